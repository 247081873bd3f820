//! How often a model writes a well-formed tool call, with and without the grammar.
//!
//! `cargo run --release -p ouro-local --example toolcall_rate -- MODEL.gguf [TRIES]`
//!
//! The prompt is ouro's tool set and a task that needs a tool. A call is well-formed when
//! the reply holds at least one call and every call names one of the tools with arguments
//! that the tool accepts (ouro-tools' own argument parsing).

use std::ops::ControlFlow;
use std::path::Path;

use ouro_local::engine::{LocalModel, LocalOptions, Sampling};
use ouro_local::toolcall::CallFormat;
use ouro_protocol::{Prompt, ResponseItem};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: toolcall_rate MODEL.gguf [TRIES]");
        std::process::exit(2);
    };
    let tries: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(20);
    let options = LocalOptions {
        max_output_tokens: 256,
        ..LocalOptions::default()
    };
    let mut model = match LocalModel::load(Path::new(&path), options) {
        Ok(model) => model,
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(1);
        }
    };
    let registry = ouro_tools::ToolRegistry::new(ouro_tools::EditTool::Edit);
    let prompt = Prompt {
        instructions: "You are ouro, a coding agent working in a git repository. Act with the \
                       tools; do not describe what you would do."
            .into(),
        tools: registry.specs(),
        input: vec![ResponseItem::user(
            "Create a file named hello.txt containing the line `hi`.",
        )],
    };
    for constrained in [false, true] {
        model.set_constrain_tool_calls(constrained);
        let (mut well_formed, mut tagged, mut bare) = (0, 0, 0);
        for seed in 0..tries {
            model.set_sampling(Sampling {
                seed,
                // Sampled, so that each round is another draw.
                temperature: 0.7,
                ..Sampling::default()
            });
            let generation = match model.generate(&prompt, &mut |_| ControlFlow::Continue(())) {
                Ok(generation) => generation,
                Err(err) => {
                    eprintln!("{err}");
                    std::process::exit(1);
                }
            };
            let reply = &generation.reply;
            let valid = !reply.calls.is_empty()
                && reply.calls.iter().all(|call| {
                    registry
                        .prepare(&call.name, &call.arguments)
                        .approval_subject()
                        .is_some()
                });
            if valid {
                well_formed += 1;
                match reply.format {
                    CallFormat::Tagged => tagged += 1,
                    CallFormat::BareJson => bare += 1,
                    CallFormat::None => {}
                }
            }
            if std::env::var_os("VERBOSE").is_some() {
                eprintln!("[{constrained} {seed}] {valid} {:?}", generation.raw);
            }
        }
        println!(
            "{} grammar={}: {well_formed}/{tries} well-formed ({tagged} <tool_call>, {bare} bare JSON)",
            Path::new(&path).file_name().map_or(path.clone(), |n| n.to_string_lossy().into_owned()),
            if constrained { "on " } else { "off" },
        );
    }
}
