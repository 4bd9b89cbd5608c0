//! A FUSE file system that forgets what was not flushed, the way LazyFS (the file system Jepsen
//! uses) loses unsynced data: the crash lab's model of a power cut.
//!
//! Everything lives in memory. A file has its *live* content (what processes read: the page
//! cache) and its *durable* content (what is on the platter); a folder has live and durable
//! entries. What becomes durable, and when:
//! - a file's content: at `fsync`/`fdatasync` of that file (FUSE_FSYNC), all of it;
//! - a folder's entries (files and folders created in it, renamed in or out, removed, hard
//!   links): at `fsync` of that folder (FUSE_FSYNCDIR). A new file whose folder was never
//!   flushed is lost with its data even if the file itself was flushed; a rename or an unlink
//!   whose folder was not flushed is undone;
//! - `syncfs` never reaches a FUSE daemon (Linux answers it without asking), so it makes
//!   nothing durable here, as on any FUSE file system: hubup must flush file by file.
//!
//! A mount can be given a cut: the N-th operation that changes anything (a write, a
//! truncation, a create, mkdir, unlink, rmdir, rename, link, or a flush) is refused with EIO,
//! and so is every one after it: the disk has lost power. [`State::after_power_cut`] then
//! gives what the disk holds, in one of three ways ([`Loss`]): everything unflushed dropped,
//! each file's unflushed writes kept up to a point and the one at that point torn, or a random
//! subset of them kept (the disk reorders) with each folder's unflushed entries all kept or
//! all lost. The lab mounts that state again and lets hubup recover.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::lab::Rng;

const ROOT: u64 = 1;
/// The kernel may cache names and attributes: every change goes through it, so its caches
/// stay true, and a power cut remounts (which drops them).
const TTL: Duration = Duration::from_secs(60);

/// One change to a file's content not yet flushed.
#[derive(Clone, Debug)]
enum Change {
    Write { offset: u64, data: Vec<u8> },
    Truncate(u64),
}

impl Change {
    fn apply(&self, content: &mut Vec<u8>) {
        match self {
            Change::Write { offset, data } => write_at(content, *offset, data),
            Change::Truncate(size) => content.resize(*size as usize, 0),
        }
    }

    /// The change cut short: the first `keep` bytes of a write (a truncation is all or
    /// nothing).
    fn torn(&self, keep: usize) -> Option<Change> {
        match self {
            Change::Write { offset, data } if keep > 0 => Some(Change::Write {
                offset: *offset,
                data: data[..keep.min(data.len())].to_vec(),
            }),
            _ => None,
        }
    }

    fn len(&self) -> usize {
        match self {
            Change::Write { data, .. } => data.len(),
            Change::Truncate(_) => 0,
        }
    }
}

fn write_at(content: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let end = offset as usize + data.len();
    if content.len() < end {
        content.resize(end, 0);
    }
    content[offset as usize..end].copy_from_slice(data);
}

#[derive(Clone, Debug)]
struct Node {
    dir: bool,
    perm: u16,
    mtime: SystemTime,
    live: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<Change>,
    entries: BTreeMap<OsString, u64>,
    durable_entries: BTreeMap<OsString, u64>,
    /// Live names of this node.
    links: u32,
}

impl Node {
    fn file(content: Vec<u8>, perm: u16) -> Node {
        Node {
            dir: false,
            perm,
            mtime: SystemTime::now(),
            durable: content.clone(),
            live: content,
            pending: Vec::new(),
            entries: BTreeMap::new(),
            durable_entries: BTreeMap::new(),
            links: 0,
        }
    }

    fn dir(perm: u16) -> Node {
        Node {
            dir: true,
            ..Node::file(Vec::new(), perm)
        }
    }

    fn change(&mut self, change: Change) {
        change.apply(&mut self.live);
        self.pending.push(change);
        self.mtime = SystemTime::now();
    }

    /// fsync: the live content becomes durable.
    fn flush(&mut self) {
        for change in std::mem::take(&mut self.pending) {
            change.apply(&mut self.durable);
        }
    }
}

/// How a power cut treats what was not flushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Every unflushed write and folder change is lost (LazyFS's "clear cache").
    Drop,
    /// Each file keeps its unflushed writes up to a random one, which is torn at a random
    /// byte; folders lose their unflushed changes.
    Torn,
    /// Each file keeps a random subset of its unflushed writes, one torn; each folder keeps
    /// all or none of its unflushed changes.
    Reorder,
}

impl Loss {
    pub const ALL: [Loss; 3] = [Loss::Drop, Loss::Torn, Loss::Reorder];
}

/// The whole file system: what a mount serves, and what a power cut leaves.
#[derive(Clone, Debug)]
pub struct State {
    nodes: HashMap<u64, Node>,
    next: u64,
}

impl State {
    /// The tree under `dir` (regular files and folders), all of it durable.
    pub fn from_dir(dir: &Path) -> io::Result<State> {
        let mut state = State {
            nodes: HashMap::from([(ROOT, Node::dir(0o755))]),
            next: ROOT + 1,
        };
        state.load(ROOT, dir)?;
        for node in state.nodes.values_mut() {
            node.durable_entries = node.entries.clone();
        }
        Ok(state)
    }

    fn load(&mut self, parent: u64, dir: &Path) -> io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let ino = if kind.is_dir() {
                let ino = self.add(Node::dir(0o755));
                self.load(ino, &entry.path())?;
                ino
            } else if kind.is_file() {
                self.add(Node::file(std::fs::read(entry.path())?, 0o644))
            } else {
                continue;
            };
            self.link(parent, entry.file_name(), ino);
        }
        Ok(())
    }

    fn add(&mut self, node: Node) -> u64 {
        let ino = self.next;
        self.next += 1;
        self.nodes.insert(ino, node);
        ino
    }

    fn link(&mut self, parent: u64, name: OsString, ino: u64) {
        if let Some(old) = self
            .nodes
            .get_mut(&parent)
            .expect("parent")
            .entries
            .insert(name, ino)
            && let Some(node) = self.nodes.get_mut(&old)
        {
            node.links = node.links.saturating_sub(1);
        }
        self.nodes.get_mut(&ino).expect("node").links += 1;
    }

    fn unlink(&mut self, parent: u64, name: &OsStr) -> Option<u64> {
        let ino = self.nodes.get_mut(&parent)?.entries.remove(name)?;
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.links = node.links.saturating_sub(1);
        }
        Some(ino)
    }

    /// Replaces the content of the file at `path` (relative, `/`-separated) in place, durably
    /// (the lab edits a loaded image's config this way).
    pub fn edit_file(&mut self, path: &str, edit: impl FnOnce(Vec<u8>) -> Vec<u8>) {
        let ino = self
            .resolve(path)
            .unwrap_or_else(|| panic!("{path} in the image"));
        let node = self.nodes.get_mut(&ino).expect("node");
        node.live = edit(std::mem::take(&mut node.live));
        node.durable = node.live.clone();
        node.pending.clear();
    }

    fn resolve(&self, path: &str) -> Option<u64> {
        let mut ino = ROOT;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            ino = *self.nodes.get(&ino)?.entries.get(OsStr::new(part))?;
        }
        Some(ino)
    }

    /// What the disk holds after power is lost now: only what the tree's durable entries
    /// reach, with each file's durable content and, by `loss`, some of its unflushed writes.
    /// The result is all durable (a fresh mount of it).
    pub fn after_power_cut(&self, loss: Loss, rng: &mut Rng) -> State {
        let mut out = State {
            nodes: HashMap::new(),
            next: self.next,
        };
        let mut dirs_seen = std::collections::HashSet::new();
        self.keep(ROOT, loss, rng, &mut out, &mut dirs_seen);
        for node in out.nodes.values_mut() {
            node.durable_entries = node.entries.clone();
        }
        out
    }

    fn keep(
        &self,
        ino: u64,
        loss: Loss,
        rng: &mut Rng,
        out: &mut State,
        dirs_seen: &mut std::collections::HashSet<u64>,
    ) {
        let node = &self.nodes[&ino];
        if !node.dir {
            let content = surviving_content(node, loss, rng);
            let mut kept = Node::file(content, node.perm);
            kept.mtime = node.mtime;
            out.nodes.insert(ino, kept);
            return;
        }
        dirs_seen.insert(ino);
        let entries = if loss == Loss::Reorder && rng.coin() {
            &node.entries
        } else {
            &node.durable_entries
        };
        let mut kept = Node::dir(node.perm);
        for (name, child) in entries {
            let is_dir = self.nodes[child].dir;
            // A folder reached twice (a half-durable move) keeps its first name only.
            if is_dir && dirs_seen.contains(child) {
                continue;
            }
            if !out.nodes.contains_key(child) {
                self.keep(*child, loss, rng, out, dirs_seen);
            }
            kept.entries.insert(name.clone(), *child);
        }
        out.nodes.insert(ino, kept);
        for child in out.nodes[&ino].entries.clone().values() {
            out.nodes.get_mut(child).expect("kept").links += 1;
        }
    }

    /// Every file's path and content, for the lab's own checks.
    pub fn files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        self.collect(ROOT, PathBuf::new(), &mut out);
        out
    }

    fn collect(&self, ino: u64, at: PathBuf, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let node = &self.nodes[&ino];
        if node.dir {
            for (name, child) in &node.entries {
                self.collect(*child, at.join(name), out);
            }
        } else {
            out.insert(at, node.live.clone());
        }
    }
}

/// A file's content after the cut: durable, plus what `loss` lets through of its unflushed
/// changes.
fn surviving_content(node: &Node, loss: Loss, rng: &mut Rng) -> Vec<u8> {
    let mut content = node.durable.clone();
    let pending = &node.pending;
    if pending.is_empty() || loss == Loss::Drop {
        return content;
    }
    match loss {
        Loss::Drop => {}
        Loss::Torn => {
            let upto = rng.below(pending.len() as u64 + 1) as usize;
            for change in &pending[..upto] {
                change.apply(&mut content);
            }
            if let Some(change) = pending.get(upto) {
                let keep = rng.below(change.len() as u64 + 1) as usize;
                if let Some(torn) = change.torn(keep) {
                    torn.apply(&mut content);
                }
            }
        }
        Loss::Reorder => {
            let torn_one = rng.below(pending.len() as u64) as usize;
            for (index, change) in pending.iter().enumerate() {
                if index == torn_one {
                    let keep = rng.below(change.len() as u64 + 1) as usize;
                    if let Some(torn) = change.torn(keep) {
                        torn.apply(&mut content);
                    }
                } else if rng.coin() {
                    change.apply(&mut content);
                }
            }
        }
    }
    content
}

/// What a mount and the lab share: the state, and the cut.
struct Shared {
    state: Mutex<State>,
    /// Changing operations served so far.
    changes: AtomicU64,
    /// The changing operation (1-based) at which power is lost, if any.
    cut_at: Option<u64>,
    frozen: AtomicBool,
}

impl Shared {
    /// Counts a changing operation, or refuses it once power is lost.
    fn change(&self) -> Result<(), Errno> {
        if self.frozen.load(Ordering::SeqCst) {
            return Err(Errno::EIO);
        }
        let n = self.changes.fetch_add(1, Ordering::SeqCst) + 1;
        if self.cut_at == Some(n) {
            self.frozen.store(true, Ordering::SeqCst);
            return Err(Errno::EIO);
        }
        Ok(())
    }
}

struct LossyFs(Arc<Shared>);

fn attr(ino: u64, node: &Node) -> FileAttr {
    let size = node.live.len() as u64;
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(512),
        atime: node.mtime,
        mtime: node.mtime,
        ctime: node.mtime,
        crtime: node.mtime,
        kind: if node.dir {
            FileType::Directory
        } else {
            FileType::RegularFile
        },
        perm: node.perm,
        nlink: if node.dir { 2 } else { node.links.max(1) },
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

impl LossyFs {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a node named `name` in `parent` and returns its attributes.
    fn create_node(&self, parent: u64, name: &OsStr, node: Node) -> Result<FileAttr, Errno> {
        let mut state = self.state();
        let dir = state.nodes.get(&parent).ok_or(Errno::ENOENT)?;
        if !dir.dir {
            return Err(Errno::ENOTDIR);
        }
        if dir.entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        self.0.change()?;
        let ino = state.add(node);
        state.link(parent, name.to_os_string(), ino);
        state.nodes.get_mut(&parent).expect("parent").mtime = SystemTime::now();
        Ok(attr(ino, &state.nodes[&ino]))
    }

    fn remove(&self, parent: u64, name: &OsStr, want_dir: bool) -> Result<(), Errno> {
        let mut state = self.state();
        let ino = *state
            .nodes
            .get(&parent)
            .and_then(|d| d.entries.get(name))
            .ok_or(Errno::ENOENT)?;
        let node = &state.nodes[&ino];
        match (want_dir, node.dir) {
            (true, false) => return Err(Errno::ENOTDIR),
            (false, true) => return Err(Errno::EISDIR),
            (true, true) if !node.entries.is_empty() => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
        self.0.change()?;
        state.unlink(parent, name);
        Ok(())
    }

    fn rename_node(
        &self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        let mut state = self.state();
        let ino = *state
            .nodes
            .get(&parent)
            .and_then(|d| d.entries.get(name))
            .ok_or(Errno::ENOENT)?;
        let target = state
            .nodes
            .get(&new_parent)
            .ok_or(Errno::ENOENT)?
            .entries
            .get(new_name)
            .copied();
        if flags.bits() & !libc::RENAME_NOREPLACE != 0 {
            return Err(Errno::EINVAL);
        }
        if let Some(target) = target {
            if flags.bits() & libc::RENAME_NOREPLACE != 0 {
                return Err(Errno::EEXIST);
            }
            let t = &state.nodes[&target];
            if t.dir && !t.entries.is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
            if t.dir != state.nodes[&ino].dir {
                return Err(if t.dir { Errno::EISDIR } else { Errno::ENOTDIR });
            }
            if target == ino {
                return Ok(());
            }
        }
        self.0.change()?;
        state.unlink(parent, name);
        state.link(new_parent, new_name.to_os_string(), ino);
        Ok(())
    }
}

fn reply_entry(reply: ReplyEntry, result: Result<FileAttr, Errno>) {
    match result {
        Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
        Err(e) => reply.error(e),
    }
}

fn reply_empty(reply: ReplyEmpty, result: Result<(), Errno>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

impl Filesystem for LossyFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let state = self.state();
        let found = state
            .nodes
            .get(&parent.0)
            .and_then(|d| d.entries.get(name))
            .map(|ino| attr(*ino, &state.nodes[ino]));
        reply_entry(reply, found.ok_or(Errno::ENOENT));
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.state().nodes.get(&ino.0) {
            Some(node) => reply.attr(&TTL, &attr(ino.0, node)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut state = self.state();
        let Some(node) = state.nodes.get_mut(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        if let Some(size) = size {
            if let Err(e) = self.0.change() {
                return reply.error(e);
            }
            node.change(Change::Truncate(size));
        }
        if let Some(mode) = mode {
            node.perm = (mode & 0o7777) as u16;
        }
        reply.attr(&TTL, &attr(ino.0, node));
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(Errno::EPERM);
        }
        let node = Node::file(Vec::new(), (mode & 0o7777) as u16);
        reply_entry(reply, self.create_node(parent.0, name, node));
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let node = Node::dir((mode & 0o7777) as u16);
        reply_entry(reply, self.create_node(parent.0, name, node));
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.remove(parent.0, name, false));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.remove(parent.0, name, true));
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply_empty(
            reply,
            self.rename_node(parent.0, name, newparent.0, newname, flags),
        );
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let result = (|| {
            let mut state = self.state();
            let node = state.nodes.get(&ino.0).ok_or(Errno::ENOENT)?;
            if node.dir {
                return Err(Errno::EPERM);
            }
            let dir = state.nodes.get(&newparent.0).ok_or(Errno::ENOENT)?;
            if dir.entries.contains_key(newname) {
                return Err(Errno::EEXIST);
            }
            self.0.change()?;
            state.link(newparent.0, newname.to_os_string(), ino.0);
            Ok(attr(ino.0, &state.nodes[&ino.0]))
        })();
        reply_entry(reply, result);
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if self.state().nodes.contains_key(&ino.0) {
            reply.opened(FileHandle(0), FopenFlags::empty());
        } else {
            reply.error(Errno::ENOENT);
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let state = self.state();
        let Some(node) = state.nodes.get(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let start = (offset as usize).min(node.live.len());
        let end = (start + size as usize).min(node.live.len());
        reply.data(&node.live[start..end]);
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut state = self.state();
        let Some(node) = state.nodes.get_mut(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        if let Err(e) = self.0.change() {
            return reply.error(e);
        }
        node.change(Change::Write {
            offset,
            data: data.to_vec(),
        });
        reply.written(data.len() as u32);
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut state = self.state();
        let Some(node) = state.nodes.get_mut(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        if let Err(e) = self.0.change() {
            return reply.error(e);
        }
        node.flush();
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let state = self.state();
        let Some(node) = state.nodes.get(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let mut all: Vec<(u64, FileType, OsString)> = vec![
            (ino.0, FileType::Directory, ".".into()),
            (ino.0, FileType::Directory, "..".into()),
        ];
        for (name, child) in &node.entries {
            let kind = if state.nodes[child].dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            };
            all.push((*child, kind, name.clone()));
        }
        for (index, (child, kind, name)) in all.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(child), index as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut state = self.state();
        let Some(node) = state.nodes.get_mut(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        if let Err(e) = self.0.change() {
            return reply.error(e);
        }
        node.durable_entries = node.entries.clone();
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // 64 GiB free in 4 KiB blocks: hubup's free-space check must pass.
        let blocks = 16 * 1024 * 1024;
        reply.statfs(blocks, blocks, blocks, 1 << 20, 1 << 20, 4096, 255, 4096);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let existing = self
            .state()
            .nodes
            .get(&parent.0)
            .and_then(|d| d.entries.get(name).copied());
        let result = match existing {
            Some(_) if flags & libc::O_EXCL != 0 => Err(Errno::EEXIST),
            Some(ino) => (|| {
                let mut state = self.state();
                let node = state.nodes.get_mut(&ino).ok_or(Errno::ENOENT)?;
                if flags & libc::O_TRUNC != 0 {
                    self.0.change()?;
                    node.change(Change::Truncate(0));
                }
                Ok(attr(ino, node))
            })(),
            None => self.create_node(
                parent.0,
                name,
                Node::file(Vec::new(), (mode & 0o7777) as u16),
            ),
        };
        match result {
            Ok(attr) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(0),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }
}

/// A mounted lossy file system.
pub struct Mounted {
    session: Option<fuser::BackgroundSession>,
    shared: Arc<Shared>,
    pub dir: PathBuf,
}

/// Mounts `state` at `dir` (an empty folder); with `cut_at`, power is lost at that changing
/// operation.
pub fn mount(dir: &Path, state: State, cut_at: Option<u64>) -> io::Result<Mounted> {
    let shared = Arc::new(Shared {
        state: Mutex::new(state),
        changes: AtomicU64::new(0),
        cut_at,
        frozen: AtomicBool::new(false),
    });
    let mut config = fuser::Config::default();
    config.mount_options = vec![fuser::MountOption::FSName("hubup-lossy".to_string())];
    let session = fuser::spawn_mount(LossyFs(shared.clone()), dir, &config)?;
    Ok(Mounted {
        session: Some(session),
        shared,
        dir: dir.to_path_buf(),
    })
}

impl Mounted {
    /// True once power is lost (the cut was reached).
    pub fn frozen(&self) -> bool {
        self.shared.frozen.load(Ordering::SeqCst)
    }

    /// Changing operations served so far.
    pub fn changes(&self) -> u64 {
        self.shared.changes.load(Ordering::SeqCst)
    }

    /// Unmounts and returns the state as it is (live and durable parts both).
    pub fn unmount(mut self) -> State {
        self.stop();
        let state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.clone()
    }

    fn stop(&mut self) {
        if let Some(session) = self.session.take()
            && session.umount_and_join().is_err()
        {
            // Still busy (a killed process's last file not yet closed): detach it, so the
            // kernel ends it when the last user goes.
            let path = std::ffi::CString::new(self.dir.as_os_str().as_bytes()).unwrap();
            // SAFETY: a valid C string; MNT_DETACH does not block.
            unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a FUSE file system can be mounted here (`/dev/fuse`, and the right to mount),
/// tried with a real mount of an empty one.
pub fn availability() -> Result<(), String> {
    if !Path::new("/dev/fuse").exists() {
        return Err("/dev/fuse does not exist (no FUSE in this kernel or container)".into());
    }
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let empty = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let state = State::from_dir(empty.path()).map_err(|e| e.to_string())?;
    let mounted = mount(dir.path(), state, None)
        .map_err(|e| format!("cannot mount a FUSE file system ({e}); run as root"))?;
    std::fs::write(dir.path().join("probe"), b"probe")
        .map_err(|e| format!("the FUSE mount does not take a write: {e}"))?;
    let state = mounted.unmount();
    if state.files().get(Path::new("probe")).map(Vec::as_slice) != Some(b"probe".as_slice()) {
        return Err("the FUSE mount lost a write it acknowledged".into());
    }
    Ok(())
}
