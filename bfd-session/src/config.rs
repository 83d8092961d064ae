//! What a session is asked to do: its timers, role and options.

use core::time::Duration;

/// Who times the Detection Time (RFC 5880 §6.8.4) of a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Detection {
    /// The session core: every received control packet is handed to
    /// [`Session::on_control`](crate::Session::on_control) and the core's
    /// own deadline declares the session down (pure userspace operation).
    #[default]
    Local,
    /// The XDP program: it stamps every valid packet, absorbs those that
    /// change nothing (as [`FastPathView::expect`](crate::FastPathView)
    /// says) and runs a kernel timer; its expiry arrives as
    /// [`Session::on_kernel_timeout`](crate::Session::on_kernel_timeout).
    Kernel,
}

/// The Echo function's settings (RFC 5880 §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoConfig {
    /// Send our own echo packets once the session is Up and the peer
    /// advertises a non-zero Required Min Echo RX Interval (MetalLB's
    /// `echoMode`).
    pub transmit: bool,
    /// The fastest we want to send echo packets (MetalLB's `echoInterval`);
    /// the peer's Required Min Echo RX Interval may slow us down (§6.8.8).
    pub desired_min_tx: Duration,
    /// What we advertise as Required Min Echo RX Interval: how fast we are
    /// willing to loop the peer's echo packets back. Zero means "we do not
    /// loop echo packets back" (§4.1) and the peer must not send any.
    pub required_min_rx: Duration,
}

impl Default for EchoConfig {
    /// Echo transmission off; willing to reflect at 50 ms, as FRR
    /// advertises by default.
    fn default() -> EchoConfig {
        EchoConfig {
            transmit: false,
            desired_min_tx: Duration::from_millis(50),
            required_min_rx: Duration::from_millis(50),
        }
    }
}

/// A session's configuration: the local values of RFC 5880 §6.8.1's
/// `bfd.DesiredMinTxInterval`, `bfd.RequiredMinRxInterval`,
/// `bfd.DetectMult` and `bfd.DemandMode`, the role (§6.1) and options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// The fastest we want to send control packets once Up. While the
    /// session is not Up we advertise and use at least one second (§6.8.3).
    pub desired_min_tx: Duration,
    /// The fastest we can receive control packets. Zero asks the peer to
    /// send no periodic packets at all (§6.8.7).
    pub required_min_rx: Duration,
    /// Detection time multiplier (`bfd.DetectMult`), at least 1.
    pub detect_mult: u8,
    /// Passive role (§6.1): send nothing until the peer has spoken.
    pub passive: bool,
    /// Ask the peer to stop its periodic transmissions once both sides are
    /// Up (`bfd.DemandMode`, §6.6); connectivity is then verified with
    /// [`Session::poll`](crate::Session::poll).
    pub demand: bool,
    /// Set the C bit: our BFD does not share fate with the control plane
    /// (§4.1, RFC 5882 §4.3).
    pub control_plane_independent: bool,
    /// A multihop session (RFC 5883): no Echo function.
    pub multihop: bool,
    /// The Echo function.
    pub echo: EchoConfig,
    /// Who runs the detection timer.
    pub detection: Detection,
    /// The kernel may answer the peer's packets for us in the steady state
    /// (issue 19; [`Session`](crate::Session)'s `answering` says when): set
    /// by the agent for sessions whose packets the kernel absorbs and can
    /// answer (kernel detection, no authentication, a keepalive template).
    pub kernel_answers: bool,
}

impl Default for SessionConfig {
    /// MetalLB's defaults: 300 ms both ways, multiplier 3, active, echo off.
    fn default() -> SessionConfig {
        SessionConfig {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
            passive: false,
            demand: false,
            control_plane_independent: false,
            multihop: false,
            echo: EchoConfig::default(),
            detection: Detection::Local,
            kernel_answers: false,
        }
    }
}

/// Why a [`SessionConfig`] cannot be used. The field names are those of
/// [`SessionConfig`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// RFC 5880 §4.1: "The value zero is reserved" for Desired Min TX.
    #[error("desired_min_tx: must be greater than zero (RFC 5880 §4.1 reserves zero)")]
    ZeroDesiredMinTx,
    /// RFC 5880 §4.1: "This value MUST NOT be zero."
    #[error("detect_mult: must be at least 1")]
    ZeroDetectMult,
    /// Intervals travel as 32-bit microsecond counts.
    #[error("{field}: {value:?} does not fit the packet's 32-bit microsecond field (at most 4294.967295s)")]
    IntervalTooLarge {
        /// The field.
        field: &'static str,
        /// The value given.
        value: Duration,
    },
    /// Intervals travel in whole microseconds.
    #[error("{field}: {value:?} is not a whole number of microseconds")]
    SubMicrosecond {
        /// The field.
        field: &'static str,
        /// The value given.
        value: Duration,
    },
    /// RFC 5883 §3 ("the Echo function ... MUST NOT be used" over multiple
    /// hops): echo needs a single-hop session.
    #[error("echo.transmit: the Echo function is not available on a multihop session (RFC 5883)")]
    EchoOnMultihop,
    /// Echo transmission needs an interval.
    #[error("echo.desired_min_tx: must be greater than zero when echo.transmit is on")]
    ZeroEchoInterval,
}

impl SessionConfig {
    /// Checks every rule above; the agent reports the first failure with
    /// the file and document it came from.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.desired_min_tx.is_zero() {
            return Err(ConfigError::ZeroDesiredMinTx);
        }
        if self.detect_mult == 0 {
            return Err(ConfigError::ZeroDetectMult);
        }
        for (field, value) in [
            ("desired_min_tx", self.desired_min_tx),
            ("required_min_rx", self.required_min_rx),
            ("echo.desired_min_tx", self.echo.desired_min_tx),
            ("echo.required_min_rx", self.echo.required_min_rx),
        ] {
            micros(field, value)?;
        }
        if self.multihop && self.echo.transmit {
            return Err(ConfigError::EchoOnMultihop);
        }
        if self.echo.transmit && self.echo.desired_min_tx.is_zero() {
            return Err(ConfigError::ZeroEchoInterval);
        }
        Ok(())
    }
}

/// `value` as the packet's microsecond count.
pub(crate) fn micros(field: &'static str, value: Duration) -> Result<u32, ConfigError> {
    if !value.subsec_nanos().is_multiple_of(1_000) {
        return Err(ConfigError::SubMicrosecond { field, value });
    }
    u32::try_from(value.as_micros()).map_err(|_| ConfigError::IntervalTooLarge { field, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        assert_eq!(SessionConfig::default().validate(), Ok(()));
        let bad = |f: fn(&mut SessionConfig)| {
            let mut config = SessionConfig::default();
            f(&mut config);
            config.validate().unwrap_err()
        };
        assert_eq!(bad(|c| c.desired_min_tx = Duration::ZERO), ConfigError::ZeroDesiredMinTx);
        assert_eq!(bad(|c| c.detect_mult = 0), ConfigError::ZeroDetectMult);
        let error = bad(|c| c.required_min_rx = Duration::from_secs(5000));
        assert!(error.to_string().starts_with("required_min_rx: "), "{error}");
        let error = bad(|c| c.echo.desired_min_tx = Duration::from_nanos(3_300_500));
        assert!(error.to_string().starts_with("echo.desired_min_tx: "), "{error}");
        assert_eq!(
            bad(|c| {
                c.multihop = true;
                c.echo.transmit = true
            }),
            ConfigError::EchoOnMultihop
        );
        // 3.3 ms is fine: microsecond precision beyond MetalLB's milliseconds.
        let config =
            SessionConfig { desired_min_tx: Duration::from_micros(3_300), ..SessionConfig::default() };
        assert_eq!(config.validate(), Ok(()));
    }
}
