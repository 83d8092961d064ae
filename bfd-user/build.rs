//! Builds the XDP program (`bfd-ebpf`) for `bpfel-unknown-none` with BTF and
//! leaves it in `OUT_DIR/bfd-ebpf`, where `bfd_user::fastpath` embeds it.
//!
//! `AYA_BUILD_SKIP=1` skips that build (for `cargo check`/clippy on a host
//! without bpf-linker): an empty object is embedded and the agent says so
//! when asked to load it.

use std::{env, fs, path::PathBuf, process::Command};

use anyhow::{Context as _, bail};

fn main() -> anyhow::Result<()> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").context("OUT_DIR not set")?);
    let object = out_dir.join("bfd-ebpf");
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR not set")?);
    let workspace = manifest_dir.parent().context("bfd-user has no parent directory")?;
    // The eBPF program compiles bfd-common too; aya-build only watches the
    // program's own directory.
    println!("cargo:rerun-if-changed={}", workspace.join("bfd-common").display());
    println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");

    let skip =
        env::var("AYA_BUILD_SKIP").is_ok_and(|value| value == "1" || value.eq_ignore_ascii_case("true"));
    if skip {
        println!("cargo:warning=AYA_BUILD_SKIP is set: bfd-agent is built without its XDP program");
        fs::write(&object, []).context("writing the empty eBPF placeholder")?;
        return Ok(());
    }

    check_prerequisites()?;
    let ebpf_dir = workspace.join("bfd-ebpf");
    let ebpf_dir = ebpf_dir.to_str().context("the workspace path is not UTF-8")?;
    aya_build::build_ebpf(
        [aya_build::Package { name: "bfd-ebpf", root_dir: ebpf_dir, ..Default::default() }],
        aya_build::Toolchain::Nightly,
    )
    .context(
        "building the XDP program (bfd-ebpf) failed; the compiler's messages are in the warnings \
         above. If a tool is missing, run `cargo xtask setup`",
    )
}

/// Fails with the command that fixes it, rather than with a linker error.
fn check_prerequisites() -> anyhow::Result<()> {
    let mut missing = Vec::new();
    match Command::new("bpf-linker").arg("--version").output() {
        Ok(output) if output.status.success() => {}
        _ => missing.push("bpf-linker 0.10.4 (`cargo install bpf-linker@0.10.4 --locked`)"),
    }
    let rust_src = Command::new("rustup")
        .args(["component", "list", "--installed", "--toolchain", "nightly"])
        .output()
        .is_ok_and(|output| {
            String::from_utf8_lossy(&output.stdout).lines().any(|line| line.starts_with("rust-src"))
        });
    if !rust_src {
        missing
            .push("the nightly toolchain's rust-src (`rustup component add rust-src --toolchain nightly`)");
    }
    if missing.is_empty() {
        return Ok(());
    }
    bail!(
        "cannot build the XDP program: missing {}.\nRun `cargo xtask setup` to install them, or set \
         AYA_BUILD_SKIP=1 to build bfd-agent without its XDP program (check/clippy only).",
        missing.join(" and ")
    )
}
