//! Console log files: each machine's console output appended to `DIR/MACHINE.log` (mode
//! 0600: a console shows what the host prints, passwords typed at a prompt included when
//! the host echoes them), rotated at a size to `MACHINE.log.1` ... `MACHINE.log.KEEP`.
//!
//! One thread writes every console's log, fed through a bounded queue: a disk that stalls
//! costs log lines (counted, and said in the log once it recovers), never the consoles.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

/// Chunks waiting for the writer before new ones are dropped.
const QUEUE: usize = 4096;

#[derive(Clone)]
pub struct LogWriter {
    queue: SyncSender<(String, Vec<u8>)>,
    dropped: Arc<AtomicU64>,
}

impl LogWriter {
    /// Creates `dir` (0700) if needed and starts the writer thread.
    pub fn start(dir: PathBuf, max_bytes: u64, keep: usize) -> std::io::Result<LogWriter> {
        create_private_dir(&dir)?;
        let (queue, rx) = sync_channel::<(String, Vec<u8>)>(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let lost = dropped.clone();
        std::thread::Builder::new()
            .name("console-log".into())
            .spawn(move || {
                let mut files = Files {
                    dir,
                    max_bytes,
                    keep,
                    open: HashMap::new(),
                };
                while let Ok((machine, data)) = rx.recv() {
                    let n = lost.swap(0, Ordering::Relaxed);
                    if n > 0 {
                        let note = format!("\r\n[igord: {n} chunks of console output were not logged: the disk was too slow]\r\n");
                        files.append(&machine, note.as_bytes());
                    }
                    files.append(&machine, &data);
                }
            })?;
        Ok(LogWriter { queue, dropped })
    }

    /// Closes `machine`'s log file until its console has output again (a fleet's worth of
    /// open files would run out of descriptors).
    pub fn close(&self, machine: &str) {
        self.append(machine, &[]);
    }

    /// Queues `data` for `machine`'s log; never waits.
    pub fn append(&self, machine: &str, data: &[u8]) {
        match self.queue.try_send((machine.to_owned(), data.to_vec())) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

struct Files {
    dir: PathBuf,
    max_bytes: u64,
    keep: usize,
    /// Open files and their sizes.
    open: HashMap<String, (File, u64)>,
}

impl Files {
    fn append(&mut self, machine: &str, data: &[u8]) {
        // Nothing to write is the signal to close (`LogWriter::close`).
        if data.is_empty() {
            self.open.remove(machine);
            return;
        }
        if let Err(e) = self.try_append(machine, data) {
            tracing::warn!(machine, error = %e, "console log not written");
            self.open.remove(machine);
        }
    }

    fn try_append(&mut self, machine: &str, data: &[u8]) -> std::io::Result<()> {
        // Machine names are checked by machine-add; a name that could leave the directory
        // is refused here all the same.
        if machine.is_empty() || machine.starts_with('.') || machine.contains(['/', '\\']) {
            return Err(std::io::Error::other(format!(
                "machine name '{machine}' cannot be a file name"
            )));
        }
        let path = self.dir.join(format!("{machine}.log"));
        if !self.open.contains_key(machine) {
            let file = open_private(&path)?;
            let size = file.metadata()?.len();
            self.open.insert(machine.to_owned(), (file, size));
        }
        let rotate = self
            .open
            .get(machine)
            .is_some_and(|(_, size)| *size > 0 && size + data.len() as u64 > self.max_bytes);
        if rotate {
            self.open.remove(machine);
            rotate_files(&path, self.keep)?;
            let file = open_private(&path)?;
            self.open.insert(machine.to_owned(), (file, 0));
        }
        if let Some((file, size)) = self.open.get_mut(machine) {
            file.write_all(data)?;
            *size += data.len() as u64;
        }
        Ok(())
    }
}

/// `path` becomes `path.1`, `path.1` becomes `path.2`, ... and `path.KEEP` is removed.
fn rotate_files(path: &Path, keep: usize) -> std::io::Result<()> {
    let numbered = |n: usize| PathBuf::from(format!("{}.{n}", path.display()));
    if keep == 0 {
        return std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(numbered(keep));
    for n in (1..keep).rev() {
        match std::fs::rename(numbered(n), numbered(n + 1)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    std::fs::rename(path, numbered(1))
}

fn open_private(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_rotate_at_their_size_and_keep_so_many() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Files {
            dir: dir.path().to_owned(),
            max_bytes: 10,
            keep: 2,
            open: HashMap::new(),
        };
        for chunk in [&b"aaaaaa"[..], b"bbbbbb", b"cccccc", b"dddddd"] {
            files.append("node1", chunk);
        }
        let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
        assert_eq!(read("node1.log"), b"dddddd");
        assert_eq!(read("node1.log.1"), b"cccccc");
        assert_eq!(read("node1.log.2"), b"bbbbbb");
        assert!(!dir.path().join("node1.log.3").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("node1.log"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A name that would leave the directory is refused, and nothing is written.
        files.append("../evil", b"x");
        assert!(!dir.path().parent().unwrap().join("evil.log").exists());
    }
}
