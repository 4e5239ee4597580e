//! The `corral` binary.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A closed pipe (`corral ct list | head -1`) ends quietly, as ripgrep does.
    let cli = corral_cli::args::Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let r = rt.block_on(async {
        if matches!(cli.command, corral_cli::args::Command::Serve(_)) {
            // The server handles Ctrl-C itself: a graceful shutdown.
            return corral_cli::run::run(cli).await;
        }
        tokio::select! {
            r = corral_cli::run::run(cli) => r,
            _ = tokio::signal::ctrl_c() => Ok(130),
        }
    });
    // A console's stdin read sits on a blocking thread that only a keypress
    // would end; do not wait for it.
    rt.shutdown_background();
    match r {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(e.kind.exit_code())
        }
    }
}
