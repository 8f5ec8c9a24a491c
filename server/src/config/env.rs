//! The environment variables of [`Config`] (highest precedence, after the TOML file). The
//! table of every variable is in the module doc of [`crate::config`].

use std::path::PathBuf;

use super::{Config, ConfigError, DatabaseUrl, S3Secret};

impl Config {
    pub(super) fn apply_env<E>(&mut self, env: &E) -> Result<(), ConfigError>
    where
        E: Fn(&str) -> Option<String>,
    {
        fn parse<T: std::str::FromStr>(
            name: &'static str,
            value: String,
        ) -> Result<T, ConfigError> {
            value
                .trim()
                .parse()
                .map_err(|_| ConfigError::Env { name, value })
        }
        if let Some(v) = env("SEALROOM_LISTEN") {
            self.listen = parse("SEALROOM_LISTEN", v)?;
        }
        if let Some(v) = env("SEALROOM_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("SEALROOM_WEB_DIR") {
            self.web_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = env("SEALROOM_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        if let Some(v) = env("SEALROOM_TRUST_PROXY") {
            self.trust_proxy = parse("SEALROOM_TRUST_PROXY", v)?;
        }
        if let Some(v) = env("SEALROOM_LOG") {
            self.log = v;
        }
        if let Some(v) = env("SEALROOM_TLS_CERT") {
            self.tls.cert = Some(PathBuf::from(v));
        }
        if let Some(v) = env("SEALROOM_TLS_KEY") {
            self.tls.key = Some(PathBuf::from(v));
        }
        if let Some(v) = env("SEALROOM_SMTP_HOST") {
            self.smtp.host = Some(v);
        }
        if let Some(v) = env("SEALROOM_SMTP_PORT") {
            self.smtp.port = parse("SEALROOM_SMTP_PORT", v)?;
        }
        if let Some(v) = env("SEALROOM_SMTP_FROM") {
            self.smtp.from = v;
        }
        if let Some(v) = env("SEALROOM_SMTP_USER") {
            self.smtp.user = Some(v);
        }
        if let Some(v) = env("SEALROOM_SMTP_PASSWORD") {
            self.smtp.password = Some(v);
        }
        if let Some(v) = env("SEALROOM_MAX_JSON_BODY") {
            self.limits.max_json_body = parse("SEALROOM_MAX_JSON_BODY", v)?;
        }
        if let Some(v) = env("SEALROOM_MAX_MESSAGE_BODY") {
            self.limits.max_message_body = parse("SEALROOM_MAX_MESSAGE_BODY", v)?;
        }
        if let Some(v) = env("SEALROOM_MAX_CHUNK") {
            self.limits.max_chunk = parse("SEALROOM_MAX_CHUNK", v)?;
        }
        if let Some(v) = env("SEALROOM_MAX_SPACE_BYTES") {
            self.limits.max_space_bytes = parse("SEALROOM_MAX_SPACE_BYTES", v)?;
        }
        if let Some(v) = env("SEALROOM_STORE_CACHE_BYTES") {
            self.limits.store_cache_bytes = parse("SEALROOM_STORE_CACHE_BYTES", v)?;
        }
        if let Some(v) = env("SEALROOM_AUTH_FAILURES_PER_MINUTE") {
            self.limits.auth_failures_per_minute = parse("SEALROOM_AUTH_FAILURES_PER_MINUTE", v)?;
        }
        self.apply_enrolment_env(env)?;
        self.apply_relay_env(env)?;
        self.apply_s3_env(env);
        if let Some(v) = env("SEALROOM_MAX_CONCURRENT_APPENDS") {
            self.limits.max_concurrent_appends = parse("SEALROOM_MAX_CONCURRENT_APPENDS", v)?;
        }
        if let Some(v) = env("SEALROOM_APPEND_BODY_TIMEOUT_SECS") {
            self.limits.append_body_timeout_secs = parse("SEALROOM_APPEND_BODY_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = env("SEALROOM_S3_TIMEOUT_SECS") {
            self.s3.timeout_secs = parse("SEALROOM_S3_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = env("SEALROOM_DATABASE_URL") {
            self.store.database_url = Some(DatabaseUrl(v));
        }
        if let Some(v) = env("SEALROOM_DATABASE_SCHEMA") {
            self.store.database_schema = Some(v);
        }
        Ok(())
    }

    fn apply_enrolment_env<E>(&mut self, env: &E) -> Result<(), ConfigError>
    where
        E: Fn(&str) -> Option<String>,
    {
        fn set<T: std::str::FromStr>(
            env: &dyn Fn(&str) -> Option<String>,
            name: &'static str,
            slot: &mut T,
        ) -> Result<(), ConfigError> {
            if let Some(value) = env(name) {
                *slot = value
                    .trim()
                    .parse()
                    .map_err(|_| ConfigError::Env { name, value })?;
            }
            Ok(())
        }
        let e = &self.enrolment;
        let mut n = e.clone();
        set(env, "SEALROOM_ENROL_FREE_FAILURES", &mut n.free_failures)?;
        set(env, "SEALROOM_ENROL_DELAY_SECS", &mut n.delay_base_secs)?;
        set(env, "SEALROOM_ENROL_USER_LOCK", &mut n.user_lock_failures)?;
        set(
            env,
            "SEALROOM_ENROL_SOURCE_LOCK",
            &mut n.source_lock_failures,
        )?;
        set(
            env,
            "SEALROOM_ENROL_REQUESTS_PER_USER",
            &mut n.requests_per_user_per_day,
        )?;
        set(
            env,
            "SEALROOM_ENROL_REQUESTS_PER_SOURCE",
            &mut n.requests_per_source_per_day,
        )?;
        set(
            env,
            "SEALROOM_TOTP_LINK_WAIT_SECS",
            &mut n.totp_link_wait_secs,
        )?;
        self.enrolment = n;
        if let Some(v) = env("SEALROOM_RELAY_KEY_FILE") {
            self.relay_key_file = Some(PathBuf::from(v));
        }
        Ok(())
    }

    fn apply_s3_env<E>(&mut self, env: &E)
    where
        E: Fn(&str) -> Option<String>,
    {
        let s3 = &mut self.s3;
        if let Some(v) = env("SEALROOM_S3_ENDPOINT") {
            s3.endpoint = Some(v);
        }
        if let Some(v) = env("SEALROOM_S3_BUCKET") {
            s3.bucket = Some(v);
        }
        if let Some(v) = env("SEALROOM_S3_REGION") {
            s3.region = v;
        }
        if let Some(v) = env("SEALROOM_S3_ACCESS_KEY_ID") {
            s3.access_key_id = Some(v);
        }
        if let Some(v) = env("SEALROOM_S3_SECRET_ACCESS_KEY") {
            s3.secret_from_env = Some(S3Secret(v));
        }
        if let Some(v) = env("SEALROOM_S3_SECRET_ACCESS_KEY_FILE") {
            s3.secret_access_key_file = Some(PathBuf::from(v));
        }
    }

    fn apply_relay_env<E>(&mut self, env: &E) -> Result<(), ConfigError>
    where
        E: Fn(&str) -> Option<String>,
    {
        fn set<T: std::str::FromStr>(
            env: &dyn Fn(&str) -> Option<String>,
            name: &'static str,
            slot: &mut T,
        ) -> Result<(), ConfigError> {
            if let Some(value) = env(name) {
                *slot = value
                    .trim()
                    .parse()
                    .map_err(|_| ConfigError::Env { name, value })?;
            }
            Ok(())
        }
        if let Some(v) = env("SEALROOM_PUBLIC_HOST") {
            self.public_host = Some(v.trim().to_ascii_lowercase());
        }
        if let Some(v) = env("SEALROOM_METRICS_LISTEN") {
            let addr = v.trim().parse().map_err(|_| ConfigError::Env {
                name: "SEALROOM_METRICS_LISTEN",
                value: v.clone(),
            })?;
            self.metrics_listen = Some(addr);
        }
        let q = &mut self.quotas;
        set(env, "SEALROOM_MAX_PAGE_BYTES", &mut q.max_page_bytes)?;
        set(
            env,
            "SEALROOM_MAX_USER_BLOB_BYTES",
            &mut q.max_user_blob_bytes,
        )?;
        set(
            env,
            "SEALROOM_USER_MESSAGES_PER_HOUR",
            &mut q.user_messages_per_hour,
        )?;
        set(
            env,
            "SEALROOM_USER_MESSAGE_BYTES_PER_HOUR",
            &mut q.user_message_bytes_per_hour,
        )?;
        set(
            env,
            "SEALROOM_SPACE_MESSAGES_PER_HOUR",
            &mut q.space_messages_per_hour,
        )?;
        set(
            env,
            "SEALROOM_SPACE_MESSAGE_BYTES_PER_HOUR",
            &mut q.space_message_bytes_per_hour,
        )?;
        set(env, "SEALROOM_UPLOAD_TTL_SECS", &mut q.upload_ttl_secs)?;
        set(env, "SEALROOM_UPLOAD_SWEEP_SECS", &mut q.upload_sweep_secs)?;
        Ok(())
    }
}
