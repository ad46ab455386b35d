//! The vipd binary.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version" | "-V") => {
            println!("vipd {}", vipd::VERSION);
            ExitCode::SUCCESS
        }
        Some("--help" | "-h") | None => {
            println!(
                "vipd {}: VRRP v2/v3 floating-IP manager\n\n\
                 The daemon is not built yet. Today this binary answers --version and --help.\n\
                 To watch the VRRP engine elect and fail over, run the simulation:\n  \
                 cargo run -p vipd-examples --example simulation",
                vipd::VERSION
            );
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("vipd: unknown argument {other:?}; try --help");
            ExitCode::from(2)
        }
    }
}
