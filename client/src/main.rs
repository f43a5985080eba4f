//! The `igor` binary: everything lives in the library; this only turns its answer into the
//! process exit code.

fn main() {
    std::process::exit(client::app::main_entry());
}
