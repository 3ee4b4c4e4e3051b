//! Rewrites the generated parts of the documentation from the settings' declarations: the table
//! in `docs/operations.md` and `config/default.toml`. A test fails while either is out of date.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let operations = format!("{root}/docs/operations.md");
    let text = std::fs::read_to_string(&operations)?;
    std::fs::write(
        &operations,
        issue_tracker_config::splice_settings_table(&text)?,
    )?;
    std::fs::write(
        format!("{root}/config/default.toml"),
        issue_tracker_config::default_toml(),
    )?;
    println!("rewrote docs/operations.md (settings table) and config/default.toml");
    Ok(())
}
