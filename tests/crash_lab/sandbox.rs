//! Sandboxes for the lab: one 4.0 template built with `hubup demo --setup-only`, copied for
//! each trial into a RAM-backed folder where there is one (the lab tests the order of hubup's
//! writes and flushes, not the disk's speed), and the reference facts every trial is checked
//! against: the digests an uninterrupted run reaches, where each step started, and where the
//! journal boundaries of each step lie.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::lab::boundaries::Boundary;
use crate::support::{AWAITING_DBA, Run, Scenario};

/// The variable the executor's fault injection reads.
pub const FAULTS: &str = "HUBUP_TEST_FAULTS";

/// Where the runs back up the databases (script mode: the BACKUP statements go into the DBA's
/// script), so the backup op joins the crashes.
pub const BACKUPS: &str = r"D:\SQLBackups";

/// The full run every trial starts.
pub const UPGRADE: [&str; 5] = ["upgrade", "--to", "4.5", "--backup-databases", BACKUPS];

/// What a DBA runs after a step stopped for its script (exit 7): the sandbox has no SQL
/// Server, so the lab plays the DBA as the demo does.
pub const DBA_CONFIRMED: [&str; 2] = ["resume", "--dba-confirmed"];

/// (version, install-tree digest, applicationHost.config digest).
pub type Digests = (String, String, String);

/// An empty folder for one sandbox: under `/dev/shm` where it can be written, else the
/// default temp folder.
pub fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new()
            .prefix("hubup-lab-")
            .tempdir_in(shm)
    {
        return dir;
    }
    tempfile::Builder::new()
        .prefix("hubup-lab-")
        .tempdir()
        .expect("temp dir")
}

/// A copy of `from` in a new scratch folder. The demo config's command templates append to a
/// log by absolute path; the copy's point at its own log.
pub fn copy_of(from: &Scenario) -> Scenario {
    let copy = Scenario { dir: scratch() };
    copy_into(from.path(), copy.path());
    copy
}

/// Copies the sandbox at `from` into `to` (which exists), repointing the config's absolute
/// paths.
pub fn copy_into(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .expect("cp");
    assert!(
        status.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
    repoint_config(from, to);
}

/// Replaces `from`'s path by `to`'s in `to/hubup.toml`, except in the command templates: the
/// journal of a run begun in `from` holds its commands as rendered there, and hubup refuses to
/// run journaled commands that the config no longer renders, so every copy's commands keep appending to the template's log.
pub fn repoint_config(from: &Path, to: &Path) {
    let config = to.join("hubup.toml");
    let text = std::fs::read_to_string(&config).expect("hubup.toml");
    let log = format!("{}/commands.log", from.display());
    const KEPT: &str = "\u{0}commands-log\u{0}";
    let text = text
        .replace(&log, KEPT)
        .replace(&from.display().to_string(), &to.display().to_string())
        .replace(KEPT, &log);
    std::fs::write(&config, text).expect("write hubup.toml");
}

/// Runs `hubup args` in `scenario` with the test faults `faults` (none if empty).
pub fn run_faulty(scenario: &Scenario, args: &[&str], faults: &str) -> Run {
    if faults.is_empty() {
        scenario.run(args)
    } else {
        scenario.run_with_env(args, &[(FAULTS, faults)])
    }
}

/// A full run (`upgrade`, then `resume --dba-confirmed` while a step waits for its DBA)
/// crashed at `boundary`, which counts journal appends across all its processes: on a copy
/// of the reference run as it was when the process the boundary falls in began (the
/// processes before it would run as they did uninterrupted, so the lab does not spend their
/// time again in every trial), that process crashed, and none after it. Returns the sandbox
/// and the last process's result.
pub fn crashed_full_run(world: &World, boundary: Boundary) -> (Scenario, Run) {
    let chain = &world.chain;
    let mut offset = 0;
    let mut first = 0;
    while first + 1 < chain.len() && boundary.append > offset + chain[first] {
        offset += chain[first];
        first += 1;
    }
    let scenario = copy_of(&world.process_starts[first]);
    let args: &[&str] = if first == 0 { &UPGRADE } else { &DBA_CONFIRMED };
    let run = run_chain(&scenario, args, boundary.shifted(offset), &chain[first..]);
    (scenario, run)
}

/// Runs `args`, then, while a step waits for its DBA (exit 7), `resume --dba-confirmed`: the
/// processes of one full run, or of its rest. `boundary` counts journal appends across all
/// of them (`chain`: the appends each process of an uninterrupted run makes) and crashes the
/// process it falls in; the processes before it run as they would uninterrupted.
pub fn run_chain(scenario: &Scenario, args: &[&str], boundary: Boundary, chain: &[u64]) -> Run {
    let mut args = args.to_vec();
    let mut offset = 0;
    for (index, &appends) in chain.iter().enumerate() {
        let last = index + 1 == chain.len();
        let inside = boundary.append > offset && (last || boundary.append <= offset + appends);
        let fault = if inside {
            boundary.shifted(offset).fault()
        } else {
            String::new()
        };
        let run = run_faulty(scenario, &args, &fault);
        if run.code != AWAITING_DBA || last {
            return run;
        }
        offset += appends;
        args = DBA_CONFIRMED.to_vec();
    }
    unreachable!("a full run has at least one process")
}

/// Runs `args` with `faults` in the first process only, then plays the DBA (no faults) while
/// a step waits for one.
pub fn run_faulty_playing_dba(scenario: &Scenario, args: &[&str], faults: &str) -> Run {
    let run = run_faulty(scenario, args, faults);
    if run.code == AWAITING_DBA && !crashed(&run) {
        scenario.run_playing_dba(&DBA_CONFIRMED)
    } else {
        run
    }
}

/// True if the run ended at an injected crash.
pub fn crashed(run: &Run) -> bool {
    run.code != 0 && run.stderr.contains("simulated crash")
}

/// A step as the export writes it (`{"from": "4.2", "to": "4.3"}`), as text: `4.2 -> 4.3`.
pub fn step_text(step: &Value) -> Option<String> {
    Some(format!(
        "{} -> {}",
        step["from"].as_str()?,
        step["to"].as_str()?
    ))
}

/// The kinds of the journal's entries, in order.
pub fn kinds(journal: &[Value]) -> Vec<String> {
    journal
        .iter()
        .map(|e| {
            e["payload"]["kind"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// The step the journal's last run left open: planned, neither committed nor rolled back.
pub fn open_step(journal: &[Value]) -> Option<String> {
    let mut open = None;
    for entry in journal {
        let payload = &entry["payload"];
        match payload["kind"].as_str() {
            Some("step_planned") => open = step_text(&payload["step"]),
            Some("step_committed") | Some("step_rolled_back") => open = None,
            Some("run_started") => open = None,
            _ => {}
        }
    }
    open
}

/// The steps the journal records as committed, in order.
pub fn committed_steps(journal: &[Value]) -> Vec<String> {
    journal
        .iter()
        .filter(|e| e["payload"]["kind"] == "step_committed")
        .filter_map(|e| step_text(&e["payload"]["step"]))
        .collect()
}

/// A step whose every journal boundary the lab crashes at.
pub struct SweptStep {
    pub step: String,
    /// The journal appends of a full run (1-based, counted as the fault injection counts them)
    /// from the one holding the step's `step_planned` to the one holding its
    /// `step_committed`.
    pub appends: (u64, u64),
}

/// The op kinds hubup has (`op.rs`), as the plan names them.
pub const OP_KINDS: [&str; 9] = [
    "backup",
    "command",
    "delete_file",
    "edit_apphost",
    "edit_settings",
    "host",
    "rename_folder",
    "sql",
    "write_file",
];

/// Everything a trial is checked against, computed once from uninterrupted and probing runs
/// on copies of one template.
pub struct World {
    /// The sandbox `hubup demo` built: kept, since every copy's commands append to its log.
    pub _built: Scenario,
    pub template: Scenario,
    /// The digests of the 4.0 template.
    pub pristine: Digests,
    /// The digests an uninterrupted 4.0 -> 4.5 run reaches.
    pub finished: Digests,
    /// Per step (`4.2 -> 4.3`): the tree and applicationHost.config digests it started from.
    pub step_starts: BTreeMap<String, (String, String)>,
    /// Per step: the op kinds of its plan.
    pub step_kinds: BTreeMap<String, Vec<String>>,
    /// The steps whose every boundary is swept ([`swept_steps`]), in run order.
    pub swept: Vec<SweptStep>,
    /// How many journal appends an uninterrupted run makes, in all its processes.
    pub total_appends: u64,
    /// The appends of each process of an uninterrupted run (`upgrade`, then `resume
    /// --dba-confirmed` at each step that waits for its DBA).
    pub chain: Vec<u64>,
    /// The uninterrupted run's sandbox as each process of `chain` began (the first: the
    /// template), so a trial crashing in a later process starts there.
    pub process_starts: Vec<Scenario>,
}

/// The number in a crash message's "(journal append N)".
fn append_number(run: &Run) -> Option<u64> {
    run.stderr
        .split("(journal append ")
        .nth(1)?
        .split(')')
        .next()?
        .parse()
        .ok()
}

/// The journal appends each process of an uninterrupted full run makes: `upgrade`, then one
/// `resume --dba-confirmed` per step that waits for its DBA. Each count is the append holding
/// the process's last entry (`awaiting_dba`, or `run_finished` for the last process), and the
/// process must not make one more. With them, a copy of the sandbox as each process found it.
fn chain_appends(template: &Scenario) -> (Vec<u64>, Vec<Scenario>) {
    let reference = copy_of(template);
    let mut args = UPGRADE.to_vec();
    let mut chain = Vec::new();
    let mut starts = Vec::new();
    loop {
        starts.push(copy_of(&reference));
        let probe = copy_of(&reference);
        let mut run = run_faulty(&probe, &args, "crash-after-entry=awaiting_dba:1");
        if !crashed(&run) {
            let probe = copy_of(&reference);
            run = run_faulty(&probe, &args, "crash-after-entry=run_finished:1");
        }
        let appends = append_number(&run).unwrap_or_else(|| {
            panic!(
                "process {} of a full run ends with awaiting_dba or run_finished: exit {}\n{}",
                chain.len() + 1,
                run.code,
                run.stderr
            )
        });
        let beyond = run_faulty(
            &copy_of(&reference),
            &args,
            &format!("crash-after-append={}", appends + 1),
        );
        assert!(
            !crashed(&beyond),
            "process {} of a full run appends after its last entry",
            chain.len() + 1
        );
        chain.push(appends);
        let run = reference.run(&args);
        match run.code {
            0 => return (chain, starts),
            AWAITING_DBA if chain.len() < 6 => args = DBA_CONFIRMED.to_vec(),
            code => panic!("a full run: exit {code}\n{}", run.stderr),
        }
    }
}

/// The append (counted across the processes of a full run, `chain`) at which the `nth` entry
/// of `kind` is journaled.
fn probe(template: &Scenario, chain: &[u64], kind: &str, nth: usize) -> u64 {
    let copy = copy_of(template);
    let mut args = UPGRADE.to_vec();
    let mut offset = 0;
    for &appends in chain {
        let seen = kinds(&copy.journal()).iter().filter(|k| *k == kind).count();
        let run = if nth > seen {
            run_faulty(
                &copy,
                &args,
                &format!("crash-after-entry={kind}:{}", nth - seen),
            )
        } else {
            copy.run(&args)
        };
        if crashed(&run) {
            return offset + append_number(&run).expect("the crash names its append");
        }
        offset += appends;
        args = DBA_CONFIRMED.to_vec();
    }
    panic!("a full run journals {kind} #{nth}")
}

/// The op kinds of each step of the 4.0 -> 4.5 plan.
fn plan_kinds(scenario: &Scenario) -> BTreeMap<String, Vec<String>> {
    let plan = scenario
        .run(&[
            "plan",
            "--to",
            "4.5",
            "--backup-databases",
            BACKUPS,
            "--json",
        ])
        .expect(0)
        .json();
    let mut out = BTreeMap::new();
    for step in plan["steps"].as_array().expect("plan has steps") {
        let mut kinds: Vec<String> = step["ops"]
            .as_array()
            .expect("step has ops")
            .iter()
            .filter_map(|op| op["kind"].as_str().map(str::to_string))
            .collect();
        kinds.sort();
        kinds.dedup();
        out.insert(step["step"].as_str().expect("step name").to_string(), kinds);
    }
    out
}

impl World {
    /// The lab's shared reference facts (built once, by whichever section asks first).
    pub fn get() -> &'static World {
        static WORLD: OnceLock<World> = OnceLock::new();
        WORLD.get_or_init(World::build)
    }

    fn build() -> World {
        let built = Scenario::new();
        let template = copy_of(&built);
        let pristine = template.digests();
        let reference = copy_of(&template);
        reference.run_playing_dba(&UPGRADE).expect(0);
        let finished = reference.digests();
        let journal = reference.journal();
        let mut step_starts = BTreeMap::new();
        for entry in &journal {
            let payload = &entry["payload"];
            if payload["kind"] == "step_planned" {
                step_starts.insert(
                    step_text(&payload["step"]).expect("step"),
                    (
                        payload["tree_before"].as_str().unwrap_or_default().into(),
                        payload["apphost_before"]
                            .as_str()
                            .unwrap_or_default()
                            .into(),
                    ),
                );
            }
        }
        assert_eq!(step_starts.len(), 5, "a full run plans five steps");
        let step_kinds = plan_kinds(&template);
        let (chain, process_starts) = chain_appends(&template);
        let committed = committed_steps(&journal);
        let swept = swept_steps(&step_kinds)
            .into_iter()
            .map(|step| {
                let index = committed
                    .iter()
                    .position(|s| *s == step)
                    .expect("the run commits the swept step")
                    + 1;
                SweptStep {
                    appends: (
                        probe(&template, &chain, "step_planned", index),
                        probe(&template, &chain, "step_committed", index),
                    ),
                    step,
                }
            })
            .collect();
        let total_appends = chain.iter().sum();
        World {
            _built: built,
            template,
            pristine,
            finished,
            step_starts,
            step_kinds,
            swept,
            total_appends,
            chain,
            process_starts,
        }
    }

    /// Whether `append` falls in a swept step.
    pub fn is_swept(&self, append: u64) -> bool {
        self.swept
            .iter()
            .any(|s| (s.appends.0..=s.appends.1).contains(&append))
    }
}

/// The fewest steps, greedily, whose plans together hold every op kind: the step holding the
/// most kinds, then the one holding the most of those still missing, and so on (the first
/// such, in run order). Ideally one step holds them all; when none does (4.1 -> 4.2 has the
/// host ops of its new sites, 4.2 -> 4.3 the folder renames), every kind still gets every
/// boundary. Kinds no step holds stay uncovered; the section reports them.
pub fn swept_steps(step_kinds: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut missing: Vec<&str> = OP_KINDS.to_vec();
    let mut chosen: Vec<String> = Vec::new();
    loop {
        let mut best: Option<(&str, usize)> = None;
        for (step, kinds) in step_kinds {
            let gain = kinds
                .iter()
                .filter(|k| missing.contains(&k.as_str()))
                .count();
            if gain > 0 && best.is_none_or(|(_, n)| gain > n) {
                best = Some((step, gain));
            }
        }
        let Some((step, _)) = best else {
            break;
        };
        missing.retain(|k| !step_kinds[step].iter().any(|s| s == k));
        chosen.push(step.to_string());
    }
    chosen.sort();
    chosen
}
