//! `hubup vbo`: the Interact API VBO out of the vendor's Interact API Service release zip,
//! as a release holding only "Utility - Interact API" (the library's `package/vbo.rs` says
//! how), so that the client's File > Import > Release/Skill shows no other component to set
//! to "Don't import". Changes nothing but the file it writes.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use super::{Cause, CommandResult, Exit, Failure};

#[derive(Args, Debug)]
pub(crate) struct VboArgs {
    /// The Interact API Service release zip from the Blue Prism Portal.
    #[arg(long, value_name = "FILE")]
    pub release_zip: PathBuf,
    /// Where to write the VBO's release [default: "Utility - Interact API.bprelease" beside
    /// the zip].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the file at --out if there is one.
    #[arg(long)]
    pub force: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn run(args: VboArgs) -> CommandResult {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&args.release_zip));
    if out.exists() && !args.force {
        return Err(Failure::of(Cause::Argument(format!(
            "{} exists: give --force to replace it, or --out to write another file; nothing \
             was written",
            out.display()
        ))));
    }
    let release = hubup::interact_vbo_release(&args.release_zip)
        .map_err(|e| Failure::of(Cause::Argument(format!("{e}; nothing was written"))))?;
    super::output::write_file_atomically(&out, release.text.as_bytes())?;
    let left_out: Vec<String> = release
        .components
        .iter()
        .filter(|c| !(c.kind == "object" && c.name == hubup::INTERACT_VBO))
        .map(ToString::to_string)
        .collect();
    if args.json {
        outln!(
            "{}",
            json!({ "ok": true, "written": out.display().to_string(),
                    "kept": hubup::INTERACT_VBO, "left_out": left_out })
        );
    } else {
        outln!(
            "wrote {}: only {:?} of the release's {} component(s){}",
            out.display(),
            hubup::INTERACT_VBO,
            release.components.len(),
            if left_out.is_empty() {
                String::new()
            } else {
                format!(" (left out: {})", left_out.join(", "))
            }
        );
        outln!(
            "next: in the Blue Prism interactive client, File > Import > Release/Skill, choose \
             it, keep \"Overwrite the existing business object\" and click Next, then Finish"
        );
    }
    Ok(Exit::Ok)
}

fn default_out(zip: &Path) -> PathBuf {
    let name = format!("{}.bprelease", hubup::INTERACT_VBO);
    match zip.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder.join(name),
        _ => PathBuf::from(name),
    }
}
