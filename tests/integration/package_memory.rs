//! Peak memory while verifying and reading a package does not grow with the size of its
//! files: the counting global allocator (`support::alloc`) measures the peak for a package and
//! for one whose files are ten times larger, in a process of its own. (A memory assertion, not
//! a timing one.)

use std::io;

use crate::support::package::*;
use crate::support::{alloc, alone};
use hubup::Package;

/// A package of a few files of `scale` times a base size: binaries (stored) and text (deflated).
fn package_bytes(scale: usize) -> Vec<u8> {
    let mut files = Vec::new();
    for i in 0..4u64 {
        files.push(SampleFile {
            path: format!("Hub/bin/Module{i}.dll"),
            content: noise(300_000 * scale, i),
        });
        files.push(SampleFile {
            path: format!("Hub/wwwroot/js/chunk{i}.js"),
            content: text(200_000 * scale, 10 + i),
        });
    }
    let manifest = manifest_for(STEP, &files);
    write_zip(&entries_for(&manifest, &files))
}

/// Peak bytes allocated above the starting level while opening (verifying) the package at
/// `path` and copying every file out.
fn peak_while_reading(path: &std::path::Path) -> usize {
    let base = alloc::current();
    alloc::reset_peak();
    let package = Package::open(path, STEP).expect("valid package");
    for file in &package.manifest().files {
        package
            .copy_file_to(file, &mut io::sink())
            .expect("file reads");
    }
    drop(package);
    alloc::peak() - base
}

#[test]
fn peak_memory_does_not_grow_with_package_size() {
    // The counts are process-wide: no other test may allocate while this one measures.
    let name = "peak_memory_does_not_grow_with_package_size";
    if !alone::in_own_process(module_path!(), name) {
        return;
    }
    let small = package_bytes(1);
    let large = package_bytes(10);
    assert!(
        large.len() > 9 * small.len(),
        "the large package is not larger"
    );
    let (_small_dir, small_path) = package_in_temp(&small);
    let (_large_dir, large_path) = package_in_temp(&large);
    drop((small, large));

    let small_peak = peak_while_reading(&small_path);
    let large_peak = peak_while_reading(&large_path);
    println!(
        "peak while reading: small package {small_peak} bytes, 10x package {large_peak} bytes"
    );
    // The largest file of the small package is 300 KB: holding any whole file would show.
    let allowance = 64 * 1024;
    assert!(
        large_peak <= small_peak + allowance,
        "peak grew from {small_peak} to {large_peak} bytes for a 10x larger package"
    );
    // And the measurement itself works: the peak covers at least the streaming buffers.
    assert!(
        small_peak >= 64 * 1024,
        "implausibly small peak: {small_peak}"
    );
}
