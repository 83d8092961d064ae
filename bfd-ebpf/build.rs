//! Rebuild the program when bpf-linker changes: it is not a dependency
//! cargo knows about.
fn main() {
    if let Ok(linker) = which::which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
}
