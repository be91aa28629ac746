//! The `tessera` command line: argument parsing and dispatch only.
fn main() {
    println!("tessera {}", env!("CARGO_PKG_VERSION"));
}
