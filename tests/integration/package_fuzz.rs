//! Fuzz-style property: random mutations of a valid package's bytes never make reading panic,
//! and a mutated package is either refused or verifies to exactly the original manifest and
//! file contents.

use std::cell::Cell;
use std::fs;

use crate::support::package::*;
use hubup::Package;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};

/// One change to the bytes of a package.
#[derive(Clone, Debug)]
enum Mutation {
    /// XOR one byte with a non-zero value.
    Flip { at: Spot, with: u8 },
    /// Overwrite up to 8 bytes with values zip parsers care about (0, 0xff, signatures).
    Write { at: Spot, bytes: Vec<u8> },
    /// Cut the file short.
    Truncate { at: Spot },
    /// Insert bytes.
    Insert { at: Spot, bytes: Vec<u8> },
    /// Remove up to 64 bytes.
    Remove { at: Spot, len: usize },
}

/// A position, biased towards the zip structures: the first header and the central
/// directory at the end are where parsers are most fragile.
#[derive(Clone, Debug)]
enum Spot {
    Head(Index),
    Tail(Index),
    Anywhere(Index),
}

impl Spot {
    fn resolve(&self, len: usize) -> usize {
        if len == 0 {
            return 0;
        }
        let window = len.min(600);
        match self {
            Spot::Head(i) => i.index(window),
            Spot::Tail(i) => len - window + i.index(window),
            Spot::Anywhere(i) => i.index(len),
        }
    }
}

fn spot() -> impl Strategy<Value = Spot> {
    prop_oneof![
        any::<Index>().prop_map(Spot::Head),
        any::<Index>().prop_map(Spot::Tail),
        any::<Index>().prop_map(Spot::Anywhere),
    ]
}

fn interesting_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            Just(0u8),
            Just(0xff),
            Just(b'P'),
            Just(b'K'),
            Just(1u8),
            Just(2u8),
            Just(b'/'),
            Just(b'.'),
            any::<u8>(),
        ],
        1..8,
    )
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (spot(), 1u8..=255).prop_map(|(at, with)| Mutation::Flip { at, with }),
        3 => (spot(), interesting_bytes()).prop_map(|(at, bytes)| Mutation::Write { at, bytes }),
        1 => spot().prop_map(|at| Mutation::Truncate { at }),
        1 => (spot(), interesting_bytes()).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (spot(), 1usize..64).prop_map(|(at, len)| Mutation::Remove { at, len }),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    match mutation {
        Mutation::Flip { at, with } => {
            let at = at.resolve(bytes.len());
            if let Some(byte) = bytes.get_mut(at) {
                *byte ^= with;
            }
        }
        Mutation::Write { at, bytes: new } => {
            let at = at.resolve(bytes.len());
            for (offset, value) in new.iter().enumerate() {
                if let Some(byte) = bytes.get_mut(at + offset) {
                    *byte = *value;
                }
            }
        }
        Mutation::Truncate { at } => {
            let at = at.resolve(bytes.len());
            bytes.truncate(at);
        }
        Mutation::Insert { at, bytes: new } => {
            let at = at.resolve(bytes.len()).min(bytes.len());
            bytes.splice(at..at, new.iter().copied());
        }
        Mutation::Remove { at, len } => {
            let at = at.resolve(bytes.len()).min(bytes.len());
            let end = (at + len).min(bytes.len());
            bytes.drain(at..end);
        }
    }
}

/// A small package, so that random positions often land in headers: one stored binary, a
/// deflated text, an empty file, and a nested one.
fn small_package() -> (hubup::Manifest, Vec<SampleFile>, Vec<u8>) {
    let files = vec![
        SampleFile {
            path: "Hub/BluePrism.Hub.dll".to_string(),
            content: noise(2_000, 1),
        },
        SampleFile {
            path: "Hub/appsettings.json".to_string(),
            content: text(3_000, 2),
        },
        SampleFile {
            path: "Hub/empty.txt".to_string(),
            content: Vec::new(),
        },
        SampleFile {
            path: "License Manager/wwwroot/index.html".to_string(),
            content: text(300, 3),
        },
    ];
    let manifest = manifest_for(STEP, &files);
    let bytes = write_zip(&entries_for(&manifest, &files));
    (manifest, files, bytes)
}

#[test]
fn random_mutations_are_refused_or_verify_identically() {
    let (manifest, files, original) = small_package();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STEP.to.package_file_name());
    // HUBUP_FUZZ_CASES runs a longer campaign (e.g. 100000) by hand.
    let cases = std::env::var("HUBUP_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000u32);
    let mut runner = TestRunner::new(Config {
        cases,
        // Tests touch only their temp dirs: no regression files in the source tree.
        failure_persistence: None,
        ..Config::default()
    });
    let refused = Cell::new(0u32);
    let accepted = Cell::new(0u32);
    runner
        .run(&prop::collection::vec(mutation(), 1..5), |mutations| {
            let mut bytes = original.clone();
            for m in &mutations {
                apply(&mut bytes, m);
            }
            fs::write(&path, &bytes).unwrap();
            match Package::open(&path, STEP) {
                Err(err) => {
                    // Every refusal is explained and names the package.
                    prop_assert!(err.to_string().contains(&path.display().to_string()));
                    refused.set(refused.get() + 1);
                }
                Ok(package) => {
                    prop_assert_eq!(package.manifest(), &manifest);
                    for (file, sample) in package.manifest().files.iter().zip(&files) {
                        let mut out = Vec::new();
                        package.copy_file_to(file, &mut out).unwrap();
                        prop_assert_eq!(&out, &sample.content);
                    }
                    accepted.set(accepted.get() + 1);
                }
            }
            Ok(())
        })
        .unwrap();
    let (refused, accepted) = (refused.get(), accepted.get());
    println!("mutated packages: {refused} refused, {accepted} verified identically");
    // Most mutations must be noticed; if none were, the mutations did not reach the package.
    assert!(
        refused > cases / 2,
        "only {refused} of {cases} mutations were refused"
    );
}
