//! Peak memory while verifying and reading a package does not grow with the size of its
//! files: a counting global allocator measures the peak for a package and for one whose files
//! are ten times larger. (A memory assertion, not a timing one.)

mod package_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use hubup::Package;
use package_support::*;

/// The system allocator, counting the bytes currently allocated and the peak.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::SeqCst) + by;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
            grew(new_size);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

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
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let package = Package::open(path, STEP).expect("valid package");
    for file in &package.manifest().files {
        package
            .copy_file_to(file, &mut io::sink())
            .expect("file reads");
    }
    drop(package);
    PEAK.load(Ordering::SeqCst) - base
}

#[test]
fn peak_memory_does_not_grow_with_package_size() {
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
