//! Operator view of the job queue (SPEC §10): list, inspect, retry and
//! discard jobs; queue depth and lag.

use leadex_domain::JobId;

use super::Leadex;
use crate::cursor::{Page, PageRequest};
use crate::error::AppError;
use crate::model::{JobFilter, JobRecord, QueueStats};

const STATUSES: [&str; 4] = ["queued", "running", "done", "dead"];

impl Leadex {
    /// Jobs matching `filter`, newest first.
    pub async fn list_jobs(&self, filter: JobFilter, page: &PageRequest) -> Result<Page<JobRecord>, AppError> {
        if let Some(s) = &filter.status
            && !STATUSES.contains(&s.as_str())
        {
            return Err(AppError::bad_request("invalid_status", "status must be queued, running, done or dead")
                .with_field("status"));
        }
        Ok(self.queue.list_jobs(&filter, page).await?)
    }

    /// One job.
    pub async fn job(&self, id: JobId) -> Result<JobRecord, AppError> {
        self.queue.get_job(id).await?.ok_or_else(|| AppError::not_found("job_not_found", "no such job"))
    }

    /// Revives a dead job with a fresh attempt budget.
    pub async fn retry_job(&self, id: JobId) -> Result<JobRecord, AppError> {
        let job = self.job(id).await?;
        if job.status != "dead" {
            return Err(AppError::conflict(
                "job_not_dead",
                format!("only dead jobs can be retried (this one is {})", job.status),
            ));
        }
        if !self.queue.retry_job(id, self.clock.now()).await? {
            return Err(AppError::conflict("job_not_dead", "the job changed state; reload it"));
        }
        self.jobs_notify.notify_waiters();
        self.job(id).await
    }

    /// Discards a job that is not running.
    pub async fn delete_job(&self, id: JobId) -> Result<(), AppError> {
        let job = self.job(id).await?;
        if job.status == "running" {
            return Err(AppError::conflict("job_running", "a running job cannot be discarded"));
        }
        if self.queue.delete_job(id).await? {
            Ok(())
        } else {
            Err(AppError::conflict("job_running", "the job started running; retry later"))
        }
    }

    /// Depth per kind and status, and the age of the oldest ready job.
    pub async fn queue_stats(&self) -> Result<QueueStats, AppError> {
        Ok(self.queue.queue_stats(self.clock.now()).await?)
    }
}
