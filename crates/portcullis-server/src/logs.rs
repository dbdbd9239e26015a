//! Tenant logs: every event is written as a structured log line at once and stored in
//! the database by a background writer in batches, off the request's path: the writer
//! gathers what arrives within [`GATHER`] of a batch's first event (or until a `flush`).

use std::time::Duration;

use portcullis_core::log::{LogEvent, LogType};
use portcullis_store::Store;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use crate::crypto;

enum Message {
    Event(LogEvent),
    Flush(oneshot::Sender<()>),
}

/// Records tenant log events.
#[derive(Clone)]
pub struct TenantLog {
    tx: mpsc::Sender<Message>,
}

/// What an event is about.
#[derive(Debug, Default, Clone)]
pub struct Subject<'a> {
    /// Client.
    pub client_id: Option<&'a str>,
    /// User.
    pub user_id: Option<&'a str>,
    /// Client IP.
    pub ip: Option<std::net::IpAddr>,
}

impl TenantLog {
    /// Starts the writer.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(writer(store, rx));
        Self { tx }
    }

    /// Records an event (dropped with a warning if the writer is far behind).
    pub fn record(
        &self,
        now: time::OffsetDateTime,
        log_type: LogType,
        description: &str,
        subject: Subject<'_>,
    ) {
        tracing::info!(
            tenant_log = log_type.code(),
            client_id = subject.client_id,
            user_id = subject.user_id,
            ip = subject.ip.map(|ip| ip.to_string()),
            "{description}"
        );
        let event = LogEvent {
            id: format!("log_{}", crypto::random_id::<12>()),
            date: now,
            log_type,
            description: description.to_owned(),
            client_id: subject.client_id.map(str::to_owned),
            user_id: subject.user_id.map(str::to_owned),
            ip: subject.ip.map(|ip| ip.to_string()),
        };
        if self.tx.try_send(Message::Event(event)).is_err() {
            tracing::warn!("tenant log writer is behind; an event was not stored");
        }
    }

    /// Waits until every event recorded before this call is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// How long the writer gathers events after the first of a batch: one write transaction per
/// moment instead of one per request (on SQLite every write takes the database's one write
/// lock, which the token endpoint is waiting for).
const GATHER: Duration = Duration::from_millis(100);

/// Most events in one batch.
const BATCH: usize = 500;

async fn writer(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Message>) {
    let mut batch = Vec::new();
    let mut waiting = Vec::new();
    while let Some(first) = rx.recv().await {
        let until = tokio::time::Instant::now() + GATHER;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Event(e) => batch.push(e),
                // Someone waits for what is gathered so far: write it now.
                Message::Flush(done) => {
                    waiting.push(done);
                    break;
                }
            }
            if batch.len() < BATCH {
                next = tokio::time::timeout_at(until, rx.recv())
                    .await
                    .ok()
                    .flatten();
            }
        }
        if !batch.is_empty() {
            for attempt in 1..=3 {
                match store.insert_logs(&batch).await {
                    Ok(()) => break,
                    Err(e) if attempt == 3 => {
                        tracing::error!(error = %e, count = batch.len(), "tenant log events lost")
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50 * attempt)).await,
                }
            }
            batch.clear();
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}
