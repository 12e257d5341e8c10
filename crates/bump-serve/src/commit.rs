/*!
Group commit of uploads.

Every acknowledged upload must be durable, so each used to be its own
write transaction, and the store's one writer (about 1 ms a batch, most of
it writing the log and its `fsync`) capped the server near 1,000 uploads a
second. Uploads that arrive while a commit runs now wait in a queue, and
the next commit takes them all in one transaction: one `fsync` for many
batches. An upload is still acknowledged only after the transaction that
holds it has committed.

There is no task to run: the first upload to find the writer free leads,
commits everything queued, and answers each waiting upload; the others
find their answer when they get their turn.
*/

use std::sync::Mutex;

use bump_store::{BatchPut, NewBatch, Store};
use tokio::sync::oneshot;

/// The most batches one transaction takes (about 2.5 MB of bodies).
const MAX_GROUP: usize = 64;

const ABANDONED: &str = "the commit holding the batch stopped";

/// A batch to store, owned while it waits.
#[derive(Debug)]
pub struct Upload {
    /// Trip.
    pub trip_id: String,
    /// Sequence number in the trip.
    pub seq: u32,
    /// Device.
    pub device_id: String,
    /// Whether it is the trip's last.
    pub is_final: bool,
    /// The canonical body.
    pub body: Vec<u8>,
    /// Its digest.
    pub digest: String,
}

/// What the commit answered for one upload: the store's answer, or why the
/// transaction failed.
pub type Answer = Result<BatchPut, String>;

type Waiting = (Upload, oneshot::Sender<Answer>);

/// Uploads waiting for the next commit.
#[derive(Debug, Default)]
pub struct Committer {
    queue: Mutex<Vec<Waiting>>,
    /// Held by the upload that is committing.
    writer: tokio::sync::Mutex<()>,
}

impl Committer {
    /// Stores `upload` durably, with whatever other uploads are waiting,
    /// and returns the store's answer for it.
    pub async fn put(&self, store: &Store, upload: Upload) -> Answer {
        let (tx, mut rx) = oneshot::channel();
        self.lock_queue().push((upload, tx));
        loop {
            let _turn = self.writer.lock().await;
            // A commit led by another upload may have taken this one.
            match rx.try_recv() {
                Ok(answer) => return answer,
                Err(oneshot::error::TryRecvError::Closed) => return Err(ABANDONED.to_owned()),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let group: Vec<Waiting> = {
                let mut q = self.lock_queue();
                let n = q.len().min(MAX_GROUP);
                q.drain(..n).collect()
            };
            if group.is_empty() {
                // Taken by a commit whose leader went away mid-way: that
                // commit runs on and answers.
                return rx.await.unwrap_or_else(|_| Err(ABANDONED.to_owned()));
            }
            // On a task of its own, so that a leader whose client hangs up
            // does not cancel the others' commit.
            let _ = tokio::spawn(commit(store.clone(), group)).await;
        }
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<Waiting>> {
        // The queue is only pushed to and drained; a panic elsewhere
        // cannot leave it half-changed.
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Commits `group` in one transaction and answers each upload.
async fn commit(store: Store, group: Vec<Waiting>) {
    let batches: Vec<NewBatch<'_>> = group
        .iter()
        .map(|(u, _)| NewBatch {
            part: None,
            trip_id: &u.trip_id,
            seq: u.seq,
            device_id: &u.device_id,
            is_final: u.is_final,
            body: &u.body,
            digest: &u.digest,
        })
        .collect();
    let result = store.put_batches(&batches, chrono::Utc::now()).await;
    drop(batches);
    match result {
        Ok(answers) => {
            for ((_, reply), answer) in group.into_iter().zip(answers) {
                // The upload may have gone (client disconnected): its
                // batch is stored all the same.
                let _ = reply.send(Ok(answer));
            }
        }
        Err(e) => {
            let why = e.to_string();
            for (_, reply) in group {
                let _ = reply.send(Err(why.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn upload(seq: u32, digest: &str) -> Upload {
        Upload {
            trip_id: "trip-g".to_owned(),
            seq,
            device_id: "dev".to_owned(),
            is_final: false,
            body: format!("{{\"seq\":{seq}}}").into_bytes(),
            digest: digest.to_owned(),
        }
    }

    /// Concurrent uploads are stored in fewer transactions than uploads,
    /// each answered as if alone: new ones inserted, a retry a duplicate,
    /// a different batch under a stored key a conflict.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_uploads_share_commits_and_keep_their_answers() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let commits = Arc::new(Committer::default());
        let tasks: Vec<_> = (0..64u32)
            .map(|seq| {
                let (store, commits) = (store.clone(), Arc::clone(&commits));
                tokio::spawn(async move { commits.put(&store, upload(seq, &format!("d{seq}"))).await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(BatchPut::Inserted));
        }
        let writes = store.write_times()["put_batches"].count;
        assert!(writes < 64, "64 uploads in {writes} transactions");
        assert_eq!(commits.put(&store, upload(3, "d3")).await, Ok(BatchPut::Duplicate));
        assert_eq!(commits.put(&store, upload(3, "other")).await, Ok(BatchPut::Conflict));
        assert_eq!(commits.put(&store, upload(64, "d64")).await, Ok(BatchPut::Inserted));
        // Every batch is there once, with its body.
        for seq in [0, 31, 63, 64] {
            assert_eq!(
                store.batch_digest("trip-g", seq).await.unwrap(),
                Some(format!("d{seq}"))
            );
        }
    }
}
