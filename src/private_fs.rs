//! Files and directories in the state dir, handled as if another local user were hostile.
//!
//! Every file is opened with `O_NOFOLLOW` (a planted symlink is refused, not followed) and
//! must be a regular file (a FIFO would block us); new files are created 0600. Whole documents
//! are replaced through a fresh temp file created with `O_EXCL`, so no planted name is reused.
//! Directories must be real directories owned by us and writable by nobody else; new ones are
//! made 0700. A directory that fails the check is refused with the fix, never chmod-ed: it may
//! be someone else's, or shared on purpose.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Flags on every open: no symlinks, no blocking on a FIFO, not inherited by agents.
const SAFE_FLAGS: i32 = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;

/// Open an existing file for reading.
pub fn open_read(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(SAFE_FLAGS)
        .open(path)
        .map_err(|e| explain(path, e))?;
    regular(path, file)
}

/// The whole content of a file.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(SAFE_FLAGS)
        .open(path)
        .map_err(|e| explain(path, e))?;
    read_regular(file, path)
}

/// All of `file`, if it is a regular file. One fstat gives both the check and the size:
/// `File::read_to_end` would ask for the size again (and the position), and `status` reads two
/// files per session.
fn read_regular(file: File, path: &Path) -> io::Result<Vec<u8>> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(path));
    }
    let size = usize::try_from(meta.len()).unwrap_or(0);
    let mut bytes = Vec::with_capacity(size.saturating_add(1));
    io::Read::read_to_end(&mut io::Read::take(&file, u64::MAX), &mut bytes)?;
    Ok(bytes)
}

/// A directory of the state dir opened once, so that the files in it are opened by name relative
/// to it: the kernel walks the directory's path once, not once per file (`status` opens three
/// files per session). The rules of this module hold for it and for what is opened in it.
#[derive(Debug)]
pub struct Dir {
    file: File,
    path: std::path::PathBuf,
}

impl Dir {
    /// Open the directory at `path` (not through a symlink).
    pub fn open(path: &Path) -> io::Result<Dir> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | SAFE_FLAGS)
            .open(path)
            .map_err(|e| explain(path, e))?;
        Ok(Dir {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Open the file `name` in it for reading, as [`open_read`] does. `name` is one path
    /// component (a `/` in it is refused).
    pub fn open_file(&self, name: &str) -> io::Result<File> {
        let path = self.path.join(name);
        if name.contains('/') || name.is_empty() || name == "." || name == ".." {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a file name", path.display()),
            ));
        }
        let flags = nix::fcntl::OFlag::from_bits_retain(libc::O_RDONLY | SAFE_FLAGS);
        let fd = nix::fcntl::openat(&self.file, name, flags, nix::sys::stat::Mode::empty())
            .map_err(|e| explain(&path, io::Error::from(e)))?;
        Ok(File::from(fd))
    }

    /// The whole content of the regular file `name` in it, a document written whole and
    /// replaced by a rename (a registry entry, a status snapshot): so its size when opened is
    /// all there is, and no read is spent on finding the end.
    pub fn read_document(&self, name: &str) -> io::Result<Vec<u8>> {
        let file = self.open_file(name)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(not_regular(&self.path.join(name)));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        io::Read::read_to_end(&mut io::Read::take(&file, meta.len()), &mut bytes)?;
        Ok(bytes)
    }
}

/// Open a file for appending, creating it 0600.
pub fn open_append(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(SAFE_FLAGS)
        .open(path)
        .map_err(|e| explain(path, e))?;
    regular(path, file)
}

/// Create a new file 0600; fails if anything (a file, a symlink) already has the name.
pub fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(SAFE_FLAGS)
        .open(path)
        .map_err(|e| explain(path, e))
}

/// Replace `path` with `bytes` atomically (a fresh temp file in the same directory, then a
/// rename, which replaces a symlink at `path` rather than writing through it), mode 0600.
/// `durable` waits for the disk before the rename.
pub fn replace(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        crate::ids::random_hex(4)
    ));
    let result = (|| {
        let mut file = create_new(&tmp)?;
        file.write_all(bytes)?;
        if durable {
            file.sync_data()?;
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Why a directory may not hold harnex's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirProblem {
    Symlink,
    NotADirectory,
    NotOwned { owner: u32 },
    WritableByOthers { mode: u32 },
}

impl DirProblem {
    /// What is wrong and what to do, for `dir`.
    pub fn describe(&self, dir: &Path) -> String {
        let shown = dir.display();
        let why = match self {
            DirProblem::Symlink => "is a symbolic link".to_string(),
            DirProblem::NotADirectory => "exists and is not a directory".to_string(),
            DirProblem::NotOwned { owner } => format!("is owned by uid {owner}, not by you"),
            DirProblem::WritableByOthers { mode } => {
                format!("is writable by group or others (mode {mode:o})")
            }
        };
        let fix = match self {
            DirProblem::WritableByOthers { .. } => format!(
                "if it is yours alone, run `chmod 700 {shown}`; otherwise set HARNEX_STATE_DIR to a directory only you can write"
            ),
            _ => "set HARNEX_STATE_DIR to a directory only you own and can write (e.g. ~/.local/state/harnex)".to_string(),
        };
        format!(
            "state directory {shown} {why}; harnex keeps session tokens there, so it will not use it: {fix}"
        )
    }
}

/// Check that `dir` is a real directory, owned by us, writable by nobody else. `Ok(false)` when
/// it does not exist.
pub fn check_private_dir(dir: &Path) -> io::Result<Result<bool, DirProblem>> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Ok(false)),
        Err(e) => return Err(e),
    };
    Ok(judge_dir(&meta).map(|()| true))
}

fn judge_dir(meta: &fs::Metadata) -> Result<(), DirProblem> {
    if meta.file_type().is_symlink() {
        return Err(DirProblem::Symlink);
    }
    if !meta.is_dir() {
        return Err(DirProblem::NotADirectory);
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(DirProblem::NotOwned { owner: meta.uid() });
    }
    if meta.mode() & 0o022 != 0 {
        return Err(DirProblem::WritableByOthers {
            mode: meta.mode() & 0o7777,
        });
    }
    Ok(())
}

/// Create `dir` 0700 if it is missing (its missing parents too), then check it as
/// [`check_private_dir`] does.
pub fn ensure_private_dir(dir: &Path) -> io::Result<Result<(), DirProblem>> {
    if let Some(parent) = dir.parent()
        && !parent.as_os_str().is_empty()
        && fs::symlink_metadata(parent).is_err()
    {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        // Someone (maybe us, a moment ago) made it: check what it is.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(dir)?;
    Ok(judge_dir(&meta))
}

/// The file we opened must be a regular file (not a FIFO, device or directory).
fn regular(path: &Path, file: File) -> io::Result<File> {
    if file.metadata()?.is_file() {
        Ok(file)
    } else {
        Err(not_regular(path))
    }
}

fn not_regular(path: &Path) -> io::Error {
    io::Error::other(format!(
        "{} is not a regular file; harnex does not read or write anything else in its state directory: remove it",
        path.display()
    ))
}

/// `ELOOP` from `O_NOFOLLOW` means a symlink: say so, and what to do.
fn explain(path: &Path, e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        return io::Error::other(format!(
            "{} is a symbolic link; harnex never follows links in its state directory (someone may have planted it): remove it",
            path.display()
        ));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_symlink_is_refused_for_every_kind_of_open() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"keep").unwrap();
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        for result in [open_append(&link).map(drop), open_read(&link).map(drop)] {
            let message = result.unwrap_err().to_string();
            assert!(message.contains("symbolic link"), "{message}");
        }
        assert!(
            create_new(&link).is_err(),
            "O_EXCL refuses any existing name"
        );
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        assert_eq!(mode(&victim), 0o644);
        // Replacing swaps the link itself for a file; the target is untouched.
        replace(&link, b"new", false).unwrap();
        assert!(
            !fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        assert_eq!(mode(&link), 0o600);
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let message = open_read(&fifo).unwrap_err().to_string();
        assert!(message.contains("not a regular file"), "{message}");
        assert!(open_append(&fifo).is_err());
    }

    #[test]
    fn new_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        open_append(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert!(create_new(&path).is_err(), "create_new never reuses a name");
    }

    #[test]
    fn directories_are_checked_not_chmodded() {
        let root = tempfile::tempdir().unwrap();
        let fresh = root.path().join("a/b");
        assert_eq!(ensure_private_dir(&fresh).unwrap(), Ok(()));
        assert_eq!(mode(&fresh), 0o700);

        let shared = root.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(
            ensure_private_dir(&shared).unwrap(),
            Err(DirProblem::WritableByOthers { mode: 0o1777 })
        );
        assert_eq!(mode(&shared), 0o1777, "the sticky bit stays");

        let link = root.path().join("link");
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        assert_eq!(ensure_private_dir(&link).unwrap(), Err(DirProblem::Symlink));
        assert_eq!(check_private_dir(&link).unwrap(), Err(DirProblem::Symlink));
        assert_eq!(
            check_private_dir(&root.path().join("none")).unwrap(),
            Ok(false)
        );
    }
}
