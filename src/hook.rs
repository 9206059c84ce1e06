//! git post-deploy hooks: `prewarm hook post-receive` and `prewarm hook install`.
