//! Route withdrawal off the engine's thread: the engine queues "withdraw"
//! and "restore" for a peer and goes on; this thread talks to the kernel,
//! in order, and logs what it did.

use std::net::IpAddr;
use std::sync::mpsc;

use anyhow::Context as _;
use bfd_user::routes::{RouteSettings, Routes};
use tracing::{info, warn};

enum Job {
    Withdraw(IpAddr),
    Restore(IpAddr),
}

/// The route thread's queue.
pub struct RouteWorker {
    jobs: mpsc::Sender<Job>,
}

impl RouteWorker {
    /// Opens netlink and the state file, and starts the thread.
    pub fn start(settings: RouteSettings) -> anyhow::Result<RouteWorker> {
        let tables = settings.tables.clone();
        let state_file = settings.state_file.clone();
        let mut routes = Routes::open(settings)
            .with_context(|| format!("route withdrawal (state file {})", state_file.display()))?;
        let pending = routes.withdrawn().len();
        info!(?tables, state_file = %state_file.display(), pending, "route withdrawal on");
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new().name("bfd-routes".into()).spawn(move || {
            for job in queue {
                match job {
                    Job::Withdraw(peer) => match routes.withdraw(peer) {
                        Ok(withdrawn) => {
                            for route in &withdrawn {
                                info!(%peer, table = route.table, destination = ?route.destination, prefix_len = route.prefix_len, "route withdrawn");
                            }
                        }
                        Err(error) => warn!(%peer, %error, "withdrawing routes"),
                    },
                    Job::Restore(peer) => match routes.restore(peer) {
                        Ok(0) => {}
                        Ok(count) => info!(%peer, count, "routes restored"),
                        Err(error) => warn!(%peer, %error, "restoring routes"),
                    },
                }
            }
        })?;
        Ok(RouteWorker { jobs })
    }

    /// Queues the withdrawal of `peer`'s routes.
    pub fn withdraw(&self, peer: IpAddr) {
        let _ = self.jobs.send(Job::Withdraw(peer));
    }

    /// Queues the restoration of `peer`'s routes.
    pub fn restore(&self, peer: IpAddr) {
        let _ = self.jobs.send(Job::Restore(peer));
    }
}
