//! Logging in through the API, as the tests' users do (password `pw-<name>`).

/// A token of user `name`, whose password is `pw-<name>`, from the server at `base`.
pub async fn api_token(client: &reqwest::Client, base: &str, name: &str) -> String {
    let reply: serde_json::Value = client
        .post(format!("{base}/api/user/get_auth_token/"))
        .json(&serde_json::json!({"username": name, "password": format!("pw-{name}")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["token"].as_str().expect("a token").to_owned()
}
