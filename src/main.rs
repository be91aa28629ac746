//! The `tessera` command line: argument parsing and dispatch only. Each subcommand's work lives
//! in `tessera::commands`, so it can be tested as a library and the binary stays thin.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tessera::commands;

#[derive(Parser)]
#[command(name = "tessera", version, about = "Compile trained ML models onto in-memory-computing accelerators", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check `.tess` files and report every problem found, with error codes.
    Lint {
        /// The `.tess` files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format: human-readable text or one JSON array of diagnostics.
        #[arg(long, value_enum, default_value = "human")]
        format: commands::lint::Format,
    },
    /// List the passes with their descriptions and options.
    Passes,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Lint { files, format } => commands::lint::run(&files, format),
        Command::Passes => commands::passes::run(),
    };
    ExitCode::from(code)
}
