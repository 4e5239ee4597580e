//! # corral-cli
//!
//! The `corral` command line: clap structs ([`args`], stage one), validated
//! corral-core requests and the shared `CtService` ([`run`], stage two),
//! tables and `-o json|yaml` ([`output`]), the terminal side of consoles
//! ([`term`]), and exit codes by error kind ([`error`]).
//!
//! Architecture invariant: no CT rule lives here; every use case goes
//! through `corral_core::CtService`, the same one the API calls.

pub mod args;
pub mod error;
pub mod output;
pub mod run;
pub mod term;
pub mod tui;

/// The whole CLI reference as Markdown: every command's `--help`.
/// Checked in as `docs/cli.md`; a test fails when it drifts.
pub fn reference_markdown() -> String {
    use clap::CommandFactory;
    fn walk(cmd: &mut clap::Command, path: &str, out: &mut String) {
        let full = if path.is_empty() {
            cmd.get_name().to_string()
        } else {
            format!("{path} {}", cmd.get_name())
        };
        out.push_str(&format!(
            "## `{full}`\n\n```text\n{}\n```\n\n",
            cmd.render_long_help().to_string().trim_end()
        ));
        let mut subs: Vec<clap::Command> = cmd.get_subcommands().cloned().collect();
        for s in &mut subs {
            if s.get_name() != "help" {
                walk(s, &full, out);
            }
        }
    }
    let mut out = String::from(
        "# corral CLI reference\n\nGenerated from the clap definitions by the test `cli_reference_is_current`; edit `crates/corral-cli/src/args.rs`, not this file.\n\n",
    );
    let mut cmd = args::Cli::command().term_width(100);
    cmd.build();
    walk(&mut cmd, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_help_snapshot() {
        insta::assert_snapshot!(super::reference_markdown());
    }

    #[test]
    fn cli_reference_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md");
        let want = super::reference_markdown();
        if std::fs::read_to_string(&path).unwrap_or_default() != want {
            std::fs::write(&path, &want).unwrap();
            panic!("docs/cli.md was stale and has been rewritten; commit it");
        }
    }

    #[test]
    fn clap_definitions_are_consistent() {
        use clap::CommandFactory;
        super::args::Cli::command().debug_assert();
    }
}
