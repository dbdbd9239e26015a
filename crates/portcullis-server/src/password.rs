//! Password hashing with Argon2id on threads of its own, at most `max_concurrent` at once,
//! so a flood of logins queues instead of starving token requests (DESIGN §4). Those
//! threads run at a lower priority ([`HASHING_NICE`]): when token requests and password
//! checks want the same core, the scheduler gives the token requests most of it.
//! Unknown users are checked against a dummy hash so that timing reveals nothing.
//!
//! Each hash needs `memory_kib` of working memory (19 MiB at OWASP's cost). It is kept for
//! the next hashes, at most `max_concurrent` buffers, and given back to the system once no
//! hash has used it for a while (see [`Scratch`] and [`compute`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{Semaphore, oneshot};

use crate::config::PasswordHashing;

/// Hashes and verifies passwords.
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    dummy_hash: String,
    scratch: Arc<Scratch>,
    /// Work for the hashing threads, which end when this is dropped.
    jobs: mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads' nice value (Linux's `setpriority`): a thread at nice 5 weighs
/// about a third of one at 0 (335 against 1024), so on a core shared with the runtime's
/// thread a hash gets about a quarter of it while token requests wait. Alone, a hash gets
/// the whole core: the cost of a login is unchanged.
pub const HASHING_NICE: i32 = 5;

/// Argon2 working memory between hashes, at most one buffer per permit. A hash in memory
/// that is already mapped costs half of one in fresh memory (16.6 ms against 34.7 ms at the
/// default cost on the machine of docs/performance.md: faulting in 19 MiB is the rest), so
/// buffers are kept; [`PasswordHasher::release_idle_memory`], called periodically, unmaps
/// them once a whole period went by without a hash.
struct Scratch {
    /// Buffers kept for the next hashes.
    free: Mutex<Vec<Vec<Block>>>,
    /// At most this many are kept (`max_concurrent`).
    keep: usize,
    /// Only buffers this large at most are kept: those made for the configured cost, not
    /// the larger one a stored hash of another cost may name.
    largest: usize,
    /// Whether a hash ran since the last release.
    used: AtomicBool,
}

impl Scratch {
    fn new(keep: usize, blocks: usize) -> Self {
        Self {
            free: Mutex::new(Vec::new()),
            keep,
            largest: reservation(blocks),
            used: AtomicBool::new(false),
        }
    }

    fn take(&self) -> Vec<Block> {
        self.used.store(true, Ordering::SeqCst);
        self.free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default()
    }

    /// Keeps `buffer` for the next hash, or drops it here (unmapped, on the caller's
    /// blocking thread) when as many as there are permits are kept already.
    fn give(&self, buffer: Vec<Block>) {
        if buffer.capacity() > self.largest {
            return;
        }
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if free.len() < self.keep {
            free.push(buffer);
        }
    }

    /// Drops every kept buffer unless a hash ran since the last call (or `now`); returns how
    /// many.
    fn release(&self, now: bool) -> usize {
        if self.used.swap(false, Ordering::SeqCst) && !now {
            return 0;
        }
        let idle = std::mem::take(&mut *self.free.lock().unwrap_or_else(|p| p.into_inner()));
        idle.len()
    }
}

/// Hashing failed (bad parameters or a stored hash that does not parse).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError;

impl PasswordHasher {
    /// Builds a hasher with the configured cost.
    pub fn new(settings: PasswordHashing) -> Result<Self, HashError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|_| HashError)?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = hash_with(&argon2, "portcullis dummy password", &mut Vec::new())?;
        let blocks = argon2.params().block_count();
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..settings.max_concurrent {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("portcullis-hash-{n}"))
                .spawn(move || hashing_thread(&queue))
                .map_err(|_| HashError)?;
        }
        Ok(Self {
            argon2,
            permits: Arc::new(Semaphore::new(settings.max_concurrent)),
            dummy_hash,
            scratch: Arc::new(Scratch::new(settings.max_concurrent, blocks)),
            jobs,
        })
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let argon2 = self.argon2.clone();
        self.run(move |memory| hash_with(&argon2, &password, memory))
            .await?
    }

    /// Verifies `password` against `stored`; with `None` (unknown user, no password) the
    /// same work is done against a dummy hash and the answer is false.
    pub async fn verify(&self, password: String, stored: Option<String>) -> bool {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy_hash.clone());
        let ok = self
            .run(move |memory| verify_with(password.as_bytes(), &stored, memory).unwrap_or(false))
            .await
            .unwrap_or(false);
        ok && known
    }

    /// Gives the kept working memory back to the system if no hash used it since the last
    /// call (the housekeeping loop calls this every 30 s); returns how many buffers went.
    pub fn release_idle_memory(&self) -> usize {
        self.scratch.release(false)
    }

    /// Gives the kept working memory back to the system now (after the hashes of a start:
    /// a tenant file's or the demo's users).
    pub fn release_memory(&self) -> usize {
        self.scratch.release(true)
    }

    /// Runs `work` on a hashing thread once a permit is free, with working memory from
    /// [`Scratch`].
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self.permits.acquire().await.map_err(|_| HashError)?;
        let scratch = self.scratch.clone();
        let span = tracing::Span::current();
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let mut memory = scratch.take();
            let result = span.in_scope(|| work(&mut memory));
            scratch.give(memory);
            let _ = done.send(result);
        });
        self.jobs.send(job).map_err(|_| HashError)?;
        result.await.map_err(|_| HashError)
    }
}

/// A hashing thread: lowers its own priority, then runs jobs until the hasher is dropped.
fn hashing_thread(queue: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    loop {
        let job = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
        match job {
            // A panicking hash drops its answer; the caller sees an error, the thread goes on.
            Ok(job) => drop(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))),
            Err(_) => return,
        }
    }
}

/// Sets the calling thread's nice value to [`HASHING_NICE`] (on Linux a thread's own),
/// unless it is already higher (a lower priority); where that is refused, the thread keeps
/// the priority it had.
fn lower_priority() {
    // On Linux, PRIO_PROCESS with no pid is the calling thread (elsewhere, the process).
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let nice = getpriority_process(None).map_or(HASHING_NICE, |n| n.max(HASHING_NICE));
        if let Err(e) = setpriority_process(None, nice) {
            tracing::debug!(error = %e, "could not lower the password hashing thread's priority");
        }
    }
}

/// Hashes `password` with a fresh salt into a PHC string (`$argon2id$v=19$m=…`).
fn hash_with(
    argon2: &Argon2<'_>,
    password: &str,
    memory: &mut Vec<Block>,
) -> Result<String, HashError> {
    let salt = crate::crypto::random::<16>();
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        compute(argon2, password.as_bytes(), &salt, out, memory)
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(|_| HashError)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| HashError)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(|_| HashError)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `stored`, with the algorithm, version and cost
/// written in it; the outputs are compared in constant time (`Output`'s `PartialEq`).
fn verify_with(password: &[u8], stored: &str, memory: &mut Vec<Block>) -> Result<bool, HashError> {
    let phc = PasswordHash::new(stored).map_err(|_| HashError)?;
    let (Some(salt), Some(expected)) = (phc.salt, phc.hash) else {
        return Err(HashError);
    };
    let algorithm = Algorithm::try_from(phc.algorithm).map_err(|_| HashError)?;
    let version =
        Version::try_from(phc.version.unwrap_or(Version::V0x13.into())).map_err(|_| HashError)?;
    let params = Params::try_from(&phc).map_err(|_| HashError)?;
    let argon2 = Argon2::new(algorithm, version, params);
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(|_| HashError)?;
    let output = Output::init_with(expected.len(), |out| {
        compute(&argon2, password, salt, out, memory)
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(|_| HashError)?;
    Ok(output == expected)
}

/// How many blocks to reserve for working memory of `blocks`: more than glibc's largest mmap
/// threshold (see [`compute`]).
fn reservation(blocks: usize) -> usize {
    const ALWAYS_MAPPED: usize = (32 << 20) / std::mem::size_of::<Block>() + 1;
    blocks.max(ALWAYS_MAPPED)
}

/// Runs Argon2 in `memory`, which holds the working memory of an earlier hash or nothing.
///
/// New working memory is reserved larger than it needs, so that it is mapped on its own and
/// unmapped when dropped. glibc's malloc serves an allocation from the calling thread's arena
/// unless it is above the mmap threshold, and that threshold rises to the size of every
/// mapped block freed, up to 32 MiB (mallopt(3), `M_MMAP_THRESHOLD`). Before, after the
/// first hash the working memory came from the arena of whichever blocking thread hashed and
/// stayed there: a burst of logins left the process as large as the burst (idle 36 MiB,
/// 154 MiB after eight logins; docs/performance.md, "Memory"). Only `block_count` blocks are
/// written; the rest of the reservation is address space that is never touched.
fn compute(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Vec<Block>,
) -> Result<(), HashError> {
    let blocks = argon2.params().block_count();
    if memory.capacity() < blocks {
        *memory = Vec::with_capacity(reservation(blocks));
    }
    // Argon2 writes every block before it reads it: what an earlier hash left is not read.
    memory.resize(blocks, Block::default());
    argon2
        .hash_password_into_with_memory(password, salt, out, memory.as_mut_slice())
        .map_err(|_| HashError)
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

    use super::*;

    fn cheap() -> Argon2<'static> {
        let params = Params::new(64, 1, 1, None).expect("valid cost");
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    #[test]
    fn our_hashes_are_argon2id_phc_strings_that_the_argon2_crate_verifies() {
        let hash = hash_with(&cheap(), "hunter2 hunter2", &mut Vec::new()).expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        let parsed = PasswordHash::new(&hash).expect("PHC string");
        assert!(cheap().verify_password(b"hunter2 hunter2", &parsed).is_ok());
        assert!(
            cheap()
                .verify_password(b"hunter3 hunter3", &parsed)
                .is_err()
        );
    }

    #[test]
    fn working_memory_left_by_another_hash_changes_no_result() {
        let mut used = Vec::new();
        let first = hash_with(&cheap(), "first password", &mut used).expect("hash");
        let second = hash_with(&cheap(), "second password", &mut used).expect("hash");
        assert_eq!(used.len(), 64, "one block per KiB, kept for the next hash");
        for (password, hash) in [("first password", &first), ("second password", &second)] {
            assert_eq!(
                verify_with(password.as_bytes(), hash, &mut used).ok(),
                Some(true)
            );
            let fresh = verify_with(password.as_bytes(), hash, &mut Vec::new());
            assert_eq!(fresh.ok(), Some(true));
        }
        assert_eq!(
            verify_with(b"first password", &second, &mut used).ok(),
            Some(false)
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashes_run_at_a_lower_priority_than_the_callers_thread() {
        use rustix::process::getpriority_process;
        let before = getpriority_process(None).expect("nice");
        let hasher = PasswordHasher::new(PasswordHashing {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            max_concurrent: 2,
        })
        .expect("hasher");
        let hashing = hasher
            .run(|_| getpriority_process(None))
            .await
            .expect("ran")
            .expect("nice");
        assert_eq!(hashing, HASHING_NICE.max(before));
        assert_eq!(
            getpriority_process(None).ok(),
            Some(before),
            "the caller's own"
        );
        let hash = hasher.hash("a password".into()).await.expect("hash");
        assert!(hasher.verify("a password".into(), Some(hash.clone())).await);
        assert!(!hasher.verify("another".into(), Some(hash)).await);
    }

    #[test]
    fn working_memory_is_kept_one_buffer_per_permit_until_a_period_without_hashes() {
        let scratch = Scratch::new(2, 4);
        let buffer = || vec![Block::default(); 4];
        for _ in 0..3 {
            scratch.give(buffer());
        }
        assert_eq!(
            scratch.free.lock().map(|f| f.len()).ok(),
            Some(2),
            "one per permit"
        );
        assert_eq!(scratch.take().len(), 4, "a hash takes a kept buffer");
        scratch.give(buffer());
        assert_eq!(scratch.release(false), 0, "a hash ran in this period: kept");
        assert_eq!(
            scratch.release(false),
            2,
            "a period without a hash: released"
        );
        assert!(scratch.take().is_empty(), "the next hash maps its own");
        scratch.give(buffer());
        assert_eq!(scratch.release(true), 1, "released at once when asked");
        scratch.give(Vec::with_capacity(reservation(4) + 1));
        assert!(
            scratch.take().is_empty(),
            "a buffer larger than the cost's is not kept"
        );
    }

    #[test]
    fn hashes_made_elsewhere_verify_with_the_cost_written_in_them() {
        // Made with another cost than ours: verification must use the stored one.
        let params = Params::new(128, 2, 1, None).expect("valid cost");
        let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
        let hash = other
            .hash_password(b"correct horse", &salt)
            .expect("hash")
            .to_string();
        assert_eq!(
            verify_with(b"correct horse", &hash, &mut Vec::new()).ok(),
            Some(true)
        );
        assert_eq!(
            verify_with(b"correct horsf", &hash, &mut Vec::new()).ok(),
            Some(false)
        );
        assert!(verify_with(b"correct horse", "$argon2id$v=19$m=128", &mut Vec::new()).is_err());
        assert!(verify_with(b"correct horse", "not a hash", &mut Vec::new()).is_err());
    }
}
