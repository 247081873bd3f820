//! `ouro sessions`: what has been recorded.

use clap::Subcommand;
use ouro_core::rollout;

use crate::exit;

#[derive(Subcommand, Debug)]
pub enum SessionsCommand {
    /// Recent sessions, newest first: id, date, working directory, first prompt.
    List {
        /// How many to show.
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: usize,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn main(command: SessionsCommand) -> u8 {
    let SessionsCommand::List { limit, json } = command;
    let home = match ouro_core::config::default_ouro_home() {
        Ok(home) => home,
        Err(e) => {
            eprintln!("ouro: {e}");
            return exit::USAGE;
        }
    };
    for path in rollout::list(&home).into_iter().take(limit) {
        let session = match rollout::load(&path) {
            Ok(session) => session,
            Err(e) => {
                eprintln!("warning: {e}");
                continue;
            }
        };
        let prompt = session.first_prompt().unwrap_or("");
        if json {
            let line = serde_json::json!({
                "id": session.meta.id,
                "created_at": session.meta.created_at,
                "cwd": session.meta.cwd,
                "model": session.meta.model,
                "first_prompt": prompt,
                "path": path,
            });
            println!("{line}");
        } else {
            let first_line = prompt.lines().next().unwrap_or("");
            let shown: String = first_line.chars().take(60).collect();
            let ellipsis = if shown.len() < prompt.len() {
                "…"
            } else {
                ""
            };
            println!(
                "{}  {}  {}  {shown}{ellipsis}",
                session.meta.id,
                session.meta.created_at.format("%Y-%m-%d %H:%M"),
                session.meta.cwd.display(),
            );
        }
    }
    exit::OK
}
