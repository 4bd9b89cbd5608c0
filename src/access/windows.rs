//! The Windows calls behind the access checks: a path's owner and DACL (fetched with
//! `GetNamedSecurityInfoW` and handed back by Windows as SDDL, which `sddl.rs` parses, so the
//! decisions are the ones tested on Linux), the SID of the account running hubup, and
//! creating a folder with hubup's own ACL (SYSTEM and Administrators, full control,
//! inheritance off).

use std::io;
use std::os::windows::ffi::OsStrExt;
use std::path::Path;
use std::ptr::null_mut;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW, ConvertSidToStringSidW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetNamedSecurityInfoW, SDDL_REVISION_1,
    SE_FILE_OBJECT,
};
use windows_sys::Win32::Security::{
    DACL_SECURITY_INFORMATION, GetTokenInformation, OWNER_SECURITY_INFORMATION,
    PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::Storage::FileSystem::CreateDirectoryW;
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::sddl::{SecurityDescriptor, Sid};

/// The DACL hubup gives the folders it creates; files in them inherit it.
pub(super) const PRIVATE_DACL: &str = "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";
/// Not every account may make Administrators the owner; such a folder keeps its creator.
const ERROR_INVALID_OWNER: i32 = 1307;

fn wide(text: &std::ffi::OsStr) -> Vec<u16> {
    text.encode_wide().chain(std::iter::once(0)).collect()
}

/// Reads a NUL-terminated UTF-16 string that Windows allocated, and frees it.
///
/// # Safety
/// `text` must be null or a NUL-terminated string allocated with LocalAlloc.
unsafe fn take_wide(text: *mut u16) -> Option<String> {
    if text.is_null() {
        return None;
    }
    let mut len = 0;
    // SAFETY: the caller promises a NUL-terminated string.
    while unsafe { *text.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` u16s were just read from `text`.
    let units = unsafe { std::slice::from_raw_parts(text, len) };
    let out = String::from_utf16_lossy(units);
    // SAFETY: allocated by Windows with LocalAlloc, freed once.
    unsafe { LocalFree(text.cast()) };
    Some(out)
}

/// The owner and DACL of `path`.
pub(super) fn descriptor(path: &Path) -> io::Result<SecurityDescriptor> {
    let name = wide(path.as_os_str());
    let info = OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;
    let mut sd: PSECURITY_DESCRIPTOR = null_mut();
    // SAFETY: `name` is NUL-terminated; the out pointers we do not want are null, which the
    // API allows; `sd` receives a LocalAlloc'ed descriptor that is freed below.
    let status = unsafe {
        GetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            info,
            null_mut(),
            null_mut(),
            null_mut(),
            null_mut(),
            &mut sd,
        )
    };
    if status != 0 {
        return Err(io::Error::from_raw_os_error(status as i32));
    }
    let mut text: *mut u16 = null_mut();
    // SAFETY: `sd` is the valid descriptor just returned; `text` receives a LocalAlloc'ed
    // string.
    let converted = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            sd,
            SDDL_REVISION_1,
            info,
            &mut text,
            null_mut(),
        )
    };
    let error = io::Error::last_os_error();
    // SAFETY: `sd` was allocated by GetNamedSecurityInfoW and is not used after this.
    unsafe { LocalFree(sd) };
    if converted == 0 {
        return Err(error);
    }
    // SAFETY: `text` came from the conversion above.
    let sddl = unsafe { take_wide(text) }.unwrap_or_default();
    SecurityDescriptor::parse(&sddl).map_err(io::Error::other)
}

/// The SID of the account running hubup, if Windows tells it.
pub(super) fn current_user() -> Option<Sid> {
    let mut token: HANDLE = null_mut();
    // SAFETY: the pseudo-handle of this process is always valid; `token` receives a handle
    // that is closed below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return None;
    }
    // TOKEN_USER plus its SID fits easily; u64s keep the buffer aligned for the struct.
    let mut buffer = [0u64; 64];
    let mut needed = 0u32;
    // SAFETY: the buffer is writable for its whole size, which is passed along.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenUser,
            buffer.as_mut_ptr().cast(),
            std::mem::size_of_val(&buffer) as u32,
            &mut needed,
        )
    };
    // SAFETY: `token` was opened above and is closed once.
    unsafe { CloseHandle(token) };
    if ok == 0 {
        return None;
    }
    // SAFETY: GetTokenInformation(TokenUser) filled the buffer with a TOKEN_USER.
    let user = unsafe { &*(buffer.as_ptr() as *const TOKEN_USER) };
    let mut text: *mut u16 = null_mut();
    // SAFETY: `user.User.Sid` points into `buffer`, which is alive.
    if unsafe { ConvertSidToStringSidW(user.User.Sid, &mut text) } == 0 {
        return None;
    }
    // SAFETY: `text` came from ConvertSidToStringSidW.
    unsafe { take_wide(text) }.map(Sid)
}

/// Creates one folder with hubup's ACL (owner Administrators where the account may set it).
pub(super) fn create_private_dir(path: &Path) -> io::Result<()> {
    match create_with(path, &format!("O:BA{PRIVATE_DACL}")) {
        Err(e) if e.raw_os_error() == Some(ERROR_INVALID_OWNER) => create_with(path, PRIVATE_DACL),
        other => other,
    }
}

fn create_with(path: &Path, sddl: &str) -> io::Result<()> {
    let text = wide(std::ffi::OsStr::new(sddl));
    let mut sd: PSECURITY_DESCRIPTOR = null_mut();
    // SAFETY: `text` is NUL-terminated; `sd` receives a LocalAlloc'ed descriptor.
    let ok = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            text.as_ptr(),
            SDDL_REVISION_1,
            &mut sd,
            null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let attributes = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: sd,
        bInheritHandle: 0,
    };
    let name = wide(path.as_os_str());
    // SAFETY: `name` is NUL-terminated and `attributes` holds the valid descriptor.
    let created = unsafe { CreateDirectoryW(name.as_ptr(), &attributes) };
    let error = io::Error::last_os_error();
    // SAFETY: `sd` was allocated by the conversion above and is not used after this.
    unsafe { LocalFree(sd) };
    if created == 0 { Err(error) } else { Ok(()) }
}
