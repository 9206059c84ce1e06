//! The fake's API 2.0 side: `CdnOverseaPushser` on `/v2/index.php`, verified from TENCENT.md §1–§2 and
//! CdnOverseaPushser.md (written independently of `crate::push`).
//!
//! Takes a parsed HTTP request (GET query or POST `application/x-www-form-urlencoded` body) and returns the JSON
//! answer Tencent would give: `{"code":0,"message":"","codeDesc":"Success","data":…}` or an error with the module
//! code in parentheses in `message`. It must never accept URLs from a request whose signature, SecretId,
//! Timestamp or Nonce is wrong, and never accept part of a batch.
//!
//! Choices (where the spec leaves room):
//! * a Timestamp more than `max_skew` away from the fake's clock, and a reused (SecretId, Nonce) seen within the
//!   skew window, both get code **4500** (重放攻击), as §1 and §2.2 describe;
//! * an unknown SecretId and revoked credentials get **4104** (SecretId不存在或者SecretKey已失效), a bad
//!   signature or token **4100** with the message real clients see;
//! * the push quota is the **overseas** daily quota (`spent_overseas` is the starting point);
//! * `codeDesc` is `InvalidParameter` for every 4000 answer (no quota-specific `codeDesc` is documented).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use time::OffsetDateTime;

use super::http::{Request, Response};
use super::{DataShape, FakeConfig, QuotaErrorForm, State, json_str};
use crate::config::SignatureMethod;

/// The path the v2 API is served on.
pub const PATH: &str = "/v2/index.php";
/// The one action served.
pub const ACTION: &str = "CdnOverseaPushser";
/// Area label recorded for v2 pushes (CdnOverseaPushser pushes overseas).
pub const AREA: &str = "overseas";

/// The source string of §1.1: `METHOD + host + path + "?" + name=value&…`, with `_` in names renamed to `.`,
/// sorted by the renamed name (bytewise), raw values, `Signature` excluded.
#[must_use]
pub fn source_string(method: &str, host: &str, path: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, &str)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (k.replace('_', "."), v.as_str()))
        .collect();
    pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{}{host}{path}?{}",
        method.to_ascii_uppercase(),
        query.join("&")
    )
}

/// Base64 of HMAC-SHA1 or HMAC-SHA256 of `source`, keyed with `secret_key` (§1.1 step 6).
#[must_use]
pub fn sign(source: &str, secret_key: &str, method: SignatureMethod) -> String {
    match method {
        SignatureMethod::HmacSha1 => {
            let mut mac = <Hmac<sha1::Sha1>>::new_from_slice(secret_key.as_bytes())
                .unwrap_or_else(|_| unreachable!());
            mac.update(source.as_bytes());
            BASE64.encode(mac.finalize().into_bytes())
        }
        SignatureMethod::HmacSha256 => {
            let mut mac = <Hmac<sha2::Sha256>>::new_from_slice(secret_key.as_bytes())
                .unwrap_or_else(|_| unreachable!());
            mac.update(source.as_bytes());
            BASE64.encode(mac.finalize().into_bytes())
        }
    }
}

/// The signature method a parameter set selects: `SignatureMethod=HmacSHA256` → SHA-256, anything else SHA-1.
#[must_use]
pub fn method_of(params: &[(String, String)]) -> SignatureMethod {
    match params.iter().find(|(k, _)| k == "SignatureMethod") {
        Some((_, v)) if v == "HmacSHA256" => SignatureMethod::HmacSha256,
        _ => SignatureMethod::HmacSha1,
    }
}

/// Appends `Signature` to `params`, signed for `method host path` (a helper for tests and scripts that drive the
/// fake; it is the verifier's own algorithm).
#[must_use]
pub fn signed(
    method: &str,
    host: &str,
    path: &str,
    mut params: Vec<(String, String)>,
    key: &str,
) -> Vec<(String, String)> {
    let sig = sign(
        &source_string(method, host, path, &params),
        key,
        method_of(&params),
    );
    params.push(("Signature".into(), sig));
    params
}

/// The request's parameters: the query for GET, the form body for POST.
pub(crate) fn params_of(req: &Request) -> Result<Vec<(String, String)>, String> {
    let raw: &[u8] = match req.method.as_str() {
        "GET" => req.query.as_bytes(),
        "POST" => {
            let ct = req
                .header("content-type")
                .unwrap_or_default()
                .to_ascii_lowercase();
            if !ct.starts_with("application/x-www-form-urlencoded") {
                return Err(format!(
                    "(9003)参数错误: content-type {ct:?} is not supported by the fake; send application/x-www-form-urlencoded"
                ));
            }
            &req.body
        }
        other => {
            return Err(format!(
                "(9003)参数错误: method {other} is not supported; use GET or POST"
            ));
        }
    };
    Ok(url::form_urlencoded::parse(raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// The `Action` of a request, if it has one (used to count calls before verification).
pub(crate) fn action_of(req: &Request) -> Option<String> {
    params_of(req)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v)
}

/// The `urls.N` of a request, best effort (for the record of faulted calls).
pub(crate) fn urls_of(req: &Request) -> Vec<String> {
    let Ok(params) = params_of(req) else {
        return Vec::new();
    };
    let map: BTreeMap<String, String> = params
        .into_iter()
        .map(|(k, v)| (k.replace('_', "."), v))
        .collect();
    collect_urls(&map).into_iter().map(|(_, u)| u).collect()
}

fn answer(code: i64, message: &str, desc: &str) -> Response {
    Response::json(format!(
        r#"{{"code":{code},"message":{},"codeDesc":{}}}"#,
        json_str(message),
        json_str(desc)
    ))
}

/// 4000 with a module-code message.
fn invalid(message: &str) -> Response {
    answer(4000, message, "InvalidParameter")
}

/// The authentication failure real clients see for a bad signature.
pub(crate) fn auth_failure() -> Response {
    answer(4100, "身份认证失败，用户身份验证失败", "AuthFailure")
}

/// The answer for a revoked or unknown SecretId.
fn secret_id_unknown() -> Response {
    answer(4104, "SecretId不存在或者SecretKey已失效", "AuthFailure")
}

/// The throttled answer.
pub(crate) fn throttled() -> Response {
    invalid("(9163)操作频繁，请稍后再试")
}

/// The internal-error answer.
pub(crate) fn internal() -> Response {
    answer(6000, "服务器内部错误，请稍后重试", "InternalError")
}

/// A success body cut short by the `truncated` / `reset` faults.
pub(crate) fn canned_success() -> String {
    r#"{"code":0,"message":"","codeDesc":"Success","data":[{"task_id":1,"date":"2016-06-21 20:24:47"}]}"#.into()
}

/// Handles one API call (faults already applied); records what it accepts or refuses in `st`.
pub(crate) fn handle(
    cfg: &FakeConfig,
    st: &mut State,
    req: &Request,
    now: OffsetDateTime,
) -> Response {
    let params = match params_of(req) {
        Ok(p) => p,
        Err(m) => return st.refuse(ACTION, &[], &m, invalid(&m)),
    };
    let action = params
        .iter()
        .find(|(k, _)| k == "Action")
        .map_or("", |(_, v)| v.as_str())
        .to_string();
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &params {
        if map.insert(k.replace('_', "."), v.clone()).is_some() {
            let m = format!("(9003)参数错误: parameter {k} given twice");
            return st.refuse(&action, &[], &m, invalid(&m));
        }
    }
    let urls = collect_urls(&map);
    let url_list: Vec<String> = urls.iter().map(|(_, u)| u.clone()).collect();
    let refuse =
        |st: &mut State, why: &str, resp: Response| st.refuse(&action, &url_list, why, resp);

    for required in ["Action", "SecretId", "Timestamp", "Nonce", "Signature"] {
        if !map.contains_key(required) {
            let m = format!("(9003)参数错误: missing common parameter {required}");
            return refuse(st, &m, invalid(&m));
        }
    }
    if st.revoked {
        return refuse(st, "credentials revoked", secret_id_unknown());
    }
    if map["SecretId"] != cfg.secret_id {
        return refuse(st, "unknown SecretId", secret_id_unknown());
    }
    let Ok(ts) = map["Timestamp"].parse::<i64>() else {
        let m = format!(
            "(9003)参数错误: Timestamp {:?} is not an integer",
            map["Timestamp"]
        );
        return refuse(st, &m, invalid(&m));
    };
    let skew = i64::try_from(cfg.max_skew.as_secs()).unwrap_or(i64::MAX);
    if (now.unix_timestamp() - ts).abs() > skew {
        let m = format!(
            "重放攻击: Timestamp {ts} is more than {skew} s from server time {}",
            now.unix_timestamp()
        );
        return refuse(st, &m, answer(4500, &m, "ReplayAttack"));
    }
    let host = req.header("host").unwrap_or_default();
    let expected = sign(
        &source_string(&req.method, host, &req.path, &params),
        &cfg.secret_key,
        method_of(&params),
    );
    if !super::constant_eq(expected.as_bytes(), map["Signature"].as_bytes()) {
        return refuse(st, "bad signature", auth_failure());
    }
    if let Some(token) = &cfg.token
        && map.get("Token") != Some(token)
    {
        return refuse(st, "bad or missing Token", auth_failure());
    }
    // Nonces are remembered only for authenticated calls, so a forged request cannot burn one.
    let nonce_key = (map["SecretId"].clone(), map["Nonce"].clone());
    st.nonces
        .retain(|_, seen| now.unix_timestamp() - *seen <= skew);
    if st.nonces.contains_key(&nonce_key) {
        let m = format!("重放攻击: Nonce {} was already used", map["Nonce"]);
        return refuse(st, &m, answer(4500, &m, "ReplayAttack"));
    }
    st.nonces.insert(nonce_key, now.unix_timestamp());

    if action != ACTION {
        let m = format!("(9003)参数错误: unsupported Action {action:?} (the fake serves {ACTION})");
        return refuse(st, &m, invalid(&m));
    }
    if urls.is_empty() {
        let m = "(9003)参数错误: urls.n is required";
        return refuse(st, m, invalid(m));
    }
    let per_request = cfg.per_request.unwrap_or(20);
    if urls.len() > per_request {
        let m = format!(
            "(23100)单次提交预热URL超出上限: {} urls, at most {per_request}",
            urls.len()
        );
        return refuse(st, &m, invalid(&m));
    }
    for (name, u) in &urls {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            let m = format!("(9003)参数错误: {name}={u} must start with http:// or https://");
            return refuse(st, &m, invalid(&m));
        }
        if cfg.bad_urls.iter().any(|b| b == u) {
            let m = format!("(9003)参数错误: url {u} is invalid");
            return refuse(st, &m, invalid(&m));
        }
        let host = url::Url::parse(u)
            .ok()
            .and_then(|p| p.host_str().map(str::to_string))
            .unwrap_or_default();
        if !cfg.domains.iter().any(|d| d.eq_ignore_ascii_case(&host)) {
            let m = format!("(9105)域名不存在: {host:?} ({u}) is not a CDN domain of this account");
            return refuse(st, &m, invalid(&m));
        }
    }
    st.roll_day(now);
    let n = url_list.len() as u64;
    if st.left(1, cfg.per_day) < n {
        let left = st.left(1, cfg.per_day);
        let resp = match cfg.quota_error {
            QuotaErrorForm::Module => invalid(&format!(
                "(23101)URL预热超出当日额度限制: {n} urls, {left} left today"
            )),
            QuotaErrorForm::Code4400 => answer(
                4400,
                &format!("超过配额: {n} urls, {left} left today"),
                "LimitExceeded",
            ),
        };
        return refuse(st, "daily quota exceeded", resp);
    }
    st.spent[1] += n;

    // One task per domain, as the doc says; the date is the push time (UTC+8, the CDN's clock).
    let mut by_host: Vec<(String, Vec<String>)> = Vec::new();
    for u in &url_list {
        let host = url::Url::parse(u)
            .ok()
            .and_then(|p| p.host_str().map(str::to_string))
            .unwrap_or_default();
        match by_host.iter_mut().find(|(h, _)| *h == host) {
            Some((_, list)) => list.push(u.clone()),
            None => by_host.push((host, vec![u.clone()])),
        }
    }
    let date = super::beijing(now);
    let mut entries = Vec::new();
    for (_, list) in by_host {
        let id = st.new_task(cfg, &list, AREA, now);
        let id_json = if cfg.numeric_task_id {
            id.to_string()
        } else {
            json_str(&id.to_string())
        };
        entries.push((id_json, list));
    }
    let data = match cfg.data_shape {
        DataShape::Array => {
            let items: Vec<String> = entries
                .iter()
                .map(|(id, _)| format!(r#"{{"task_id":{id},"date":{}}}"#, json_str(&date)))
                .collect();
            format!("[{}]", items.join(","))
        }
        DataShape::Object => {
            let first = entries
                .first()
                .map_or_else(|| "0".to_string(), |(id, _)| id.clone());
            format!(r#"{{"task_id":{first},"count":{n}}}"#)
        }
    };
    Response::json(format!(
        r#"{{"code":0,"message":"","codeDesc":"Success","data":{data}}}"#
    ))
}

/// `urls.N` parameters (after renaming), ordered by N.
fn collect_urls(map: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut urls: Vec<(u64, String, String)> = map
        .iter()
        .filter_map(|(k, v)| {
            let n = k.strip_prefix("urls.")?.parse::<u64>().ok()?;
            Some((n, k.clone(), v.clone()))
        })
        .collect();
    urls.sort_by_key(|(n, _, _)| *n);
    urls.into_iter().map(|(_, k, v)| (k, v)).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    /// §1.2 A: CVM DescribeInstances, both signature methods.
    #[test]
    fn known_answer_a_cvm_describe_instances() {
        let key = "Gu5t9xGARNpq86cd98joQYCN3Cozk1qA";
        let mut params = p(&[
            ("Action", "DescribeInstances"),
            ("InstanceIds.0", "ins-09dx96dg"),
            ("Nonce", "11886"),
            ("Region", "ap-guangzhou"),
            ("SecretId", "AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA"),
            ("SignatureMethod", "HmacSHA256"),
            ("Timestamp", "1465185768"),
        ]);
        params.reverse(); // order of input must not matter
        let src = source_string("GET", "cvm.api.qcloud.com", "/v2/index.php", &params);
        assert_eq!(
            src,
            "GETcvm.api.qcloud.com/v2/index.php?Action=DescribeInstances&InstanceIds.0=ins-09dx96dg&Nonce=11886&Region=ap-guangzhou&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA&SignatureMethod=HmacSHA256&Timestamp=1465185768"
        );
        assert_eq!(method_of(&params), SignatureMethod::HmacSha256);
        assert_eq!(
            sign(&src, key, SignatureMethod::HmacSha256),
            "0EEm/HtGRr/VJXTAD9tYMth1Bzm3lLHz5RCDv1GdM8s="
        );
        let encoded: String = url::form_urlencoded::byte_serialize(
            sign(&src, key, SignatureMethod::HmacSha256).as_bytes(),
        )
        .collect();
        assert_eq!(
            encoded,
            "0EEm%2FHtGRr%2FVJXTAD9tYMth1Bzm3lLHz5RCDv1GdM8s%3D"
        );
        let sha1_src = src.replace("HmacSHA256", "HmacSHA1");
        assert_eq!(
            sign(&sha1_src, key, SignatureMethod::HmacSha1),
            "nPVnY6njQmwQ8ciqbPl5Qe+Oru4="
        );
    }

    /// §1.2 B: CDN DescribeCdnHosts, GET, POST and the SHA-256 variant.
    #[test]
    fn known_answer_b_cdn_describe_cdn_hosts() {
        let key = "pxPgRWDbCy86ZYyqBTDk7WmeRZSmPco0";
        let params = p(&[
            ("Action", "DescribeCdnHosts"),
            ("SecretId", "AKIDT8G5AsY1D3MChWooNq1rFSw1fyBVCX9D"),
            ("Timestamp", "1463122059"),
            ("Nonce", "13029"),
            ("offset", "0"),
            ("limit", "10"),
        ]);
        let get = source_string("GET", "cdn.api.qcloud.com", "/v2/index.php", &params);
        assert_eq!(
            get,
            "GETcdn.api.qcloud.com/v2/index.php?Action=DescribeCdnHosts&Nonce=13029&SecretId=AKIDT8G5AsY1D3MChWooNq1rFSw1fyBVCX9D&Timestamp=1463122059&limit=10&offset=0"
        );
        assert_eq!(method_of(&params), SignatureMethod::HmacSha1);
        assert_eq!(
            sign(&get, key, SignatureMethod::HmacSha1),
            "bWMMAR1eFGjZ5KWbfxTlBiLiNLc="
        );
        let post = source_string("POST", "cdn.api.qcloud.com", "/v2/index.php", &params);
        assert_eq!(
            sign(&post, key, SignatureMethod::HmacSha1),
            "i/KcLp6VaOtUmVtT0dqtLpKJOkg="
        );
        let sha256 = p(&[
            ("Action", "DescribeCdnHosts"),
            ("SecretId", "AKIDT8G5AsY1D3MChWooNq1rFSw1fyBVCX9D"),
            ("Timestamp", "1502197934"),
            ("Nonce", "48059"),
            ("SignatureMethod", "HmacSHA256"),
            ("offset", "0"),
            ("limit", "10"),
        ]);
        let src = source_string("GET", "cdn.api.qcloud.com", "/v2/index.php", &sha256);
        assert_eq!(
            sign(&src, key, method_of(&sha256)),
            "b/HlnO7vWEtR/kf21BvF0fX4vGmIThwWxlaD5GQtlSM="
        );
    }

    /// §1.2, the SDK's own unit tests (POST/GET SHA-1, POST SHA-256, lower-case method).
    #[test]
    fn known_answer_sdk_unit_tests() {
        let key = "secretKeyBar";
        let base = |sm: &str| {
            p(&[
                ("Action", "DescribeInstances"),
                ("Nonce", "1290303896666895346"),
                ("Region", "ap-guangzhou"),
                ("SecretId", "secretIdFoo"),
                ("SignatureMethod", sm),
                ("Timestamp", "1512393162"),
                ("Version", "2017-03-12"),
            ])
        };
        let sha1 = base("HmacSHA1");
        let host = "cvm.api.qcloud.com";
        let sig = |m: &str, ps: &Vec<(String, String)>| {
            sign(
                &source_string(m, host, "/v2/index.php", ps),
                key,
                method_of(ps),
            )
        };
        assert_eq!(sig("POST", &sha1), "p3n+pxBqF5JGZtDSxoVn5tGngf0=");
        assert_eq!(sig("post", &sha1), "p3n+pxBqF5JGZtDSxoVn5tGngf0=");
        assert_eq!(sig("GET", &sha1), "5HAq1BOKNLEE2/uauWnp6Zv9Z3c=");
        assert_eq!(
            sig("POST", &base("HmacSHA256")),
            "B2T37FRSP6Fk0/q/cdfrTE0p3zX5ooB/2BPWZUFpsj4="
        );
    }

    #[test]
    fn underscore_names_sign_like_dots_and_sort_lexicographically() {
        let a = p(&[("urls_0", "http://a/"), ("urls.10", "x"), ("urls.2", "y")]);
        let src = source_string("GET", "h", "/p", &a);
        assert_eq!(src, "GETh/p?urls.0=http://a/&urls.10=x&urls.2=y");
        let b = p(&[("urls.0", "http://a/"), ("urls.10", "x"), ("urls.2", "y")]);
        assert_eq!(
            sign(&src, "k", SignatureMethod::HmacSha1),
            sign(
                &source_string("GET", "h", "/p", &b),
                "k",
                SignatureMethod::HmacSha1
            )
        );
        let signed = signed("POST", "h", "/p", b, "k");
        assert_eq!(signed.last().unwrap().0, "Signature");
    }
}
