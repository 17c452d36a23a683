use super::*;

const GOOD: &str = r#"
state_dir = "state"
key_file = "k.key"
pack_size = 4096

[profiles]
critical = { data_shards = 4, parity_shards = 2 }

[[locations]]
id = "a"
region = "eu"
tier = "hot"
provider = "local"
path = "loc-a"

[[locations]]
id = "b"
region = "us"
tier = "cold"
provider = "local"
path = "/abs/loc-b"
"#;

fn parse(text: &str) -> Result<FileConfig> {
    FileConfig::parse(text, Path::new("heirloom.toml"))
}

fn config_error(text: &str) -> (Option<usize>, String) {
    match parse(text) {
        Err(Error::Config { line, message, .. }) => (line, message),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn parses_and_resolves_paths_against_the_file_folder() {
    let f = parse(GOOD).unwrap();
    assert_eq!(f.pack_size, Some(4096));
    assert_eq!(f.profiles.0.critical, RedundancyProfile::new(4, 2));
    assert_eq!(
        f.profiles.0.standard,
        RedundancyProfiles::default().standard
    );
    let cfg = f
        .to_engine_config(Path::new("/etc/heirloom"), KeySource::passphrase("x"))
        .unwrap();
    assert_eq!(cfg.state_dir, Path::new("/etc/heirloom/state"));
    assert_eq!(cfg.pack_size, 4096);
    assert_eq!(cfg.locations.len(), 2);
    assert_eq!(cfg.locations[1].tier, Tier::Cold);
    assert!(format!("{:?}", cfg.locations[0].provider).contains("/etc/heirloom/loc-a"));
    assert!(format!("{:?}", cfg.locations[1].provider).contains("\"/abs/loc-b\""));
    assert!(
        !Path::new("/etc/heirloom/loc-a").exists(),
        "opening never creates a folder"
    );
}

#[test]
fn an_unknown_key_names_the_key_and_its_line() {
    let text = GOOD.replace("region = \"us\"", "regoin = \"us\"");
    let (line, msg) = config_error(&text);
    assert_eq!(line, Some(18), "{msg}");
    assert!(msg.contains("unknown field 'regoin'"), "{msg}");
    let e = parse(&text).unwrap_err().to_string();
    assert!(
        e.starts_with("heirloom.toml line 18: unknown field 'regoin'"),
        "{e}"
    );

    let (line, msg) = config_error(&GOOD.replace("pack_size", "pack_sise"));
    assert_eq!(line, Some(4));
    assert!(msg.contains("pack_sise"), "{msg}");
}

#[test]
fn invalid_values_are_errors_with_a_line() {
    let (line, msg) = config_error(&GOOD.replace("\"cold\"", "\"warm\""));
    assert_eq!(line, Some(19));
    assert!(msg.contains("warm"), "{msg}");

    let (line, msg) = config_error(&GOOD.replace(
        "provider = \"local\"\npath = \"/abs",
        "provider = \"ftp\"\npath = \"/abs",
    ));
    assert_eq!(line, Some(20));
    assert!(msg.contains("ftp"), "{msg}");

    let (line, msg) = config_error(&GOOD.replace(
        "data_shards = 4, parity_shards = 2",
        "data_shards = 4, parity_shards = 1",
    ));
    assert!(line.is_some());
    assert!(msg.contains("critical"), "{msg}");

    let (_, msg) = config_error(&GOOD.replace("pack_size = 4096", "pack_size = 10"));
    assert!(msg.contains("pack_size"), "{msg}");
}

#[test]
fn provider_settings_must_match_the_provider() {
    let (line, msg) = config_error(&GOOD.replace("path = \"loc-a\"\n", ""));
    assert!(line.is_some());
    assert!(msg.contains("location a") && msg.contains("path"), "{msg}");

    let (_, msg) = config_error(&GOOD.replace("id = \"b\"", "id = \"a\""));
    assert!(msg.contains("\"a\" is used twice"), "{msg}");
}

const S3_TEXT: &str = r#"
state_dir = "s"
[[locations]]
id = "offsite"
region = "eu-central"
tier = "cold"
provider = "s3"
[locations.s3]
bucket = "b"
endpoint = "http://127.0.0.1:9"
prefix = "heirloom/"
path_style = true
region = "eu-central-1"
allow_plaintext_credentials = true
access_key_id = "AKIDEXAMPLE"
secret_access_key = "not-a-real-secret"
"#;

#[cfg(feature = "s3")]
#[test]
fn s3_locations_parse_into_s3_config_and_build_without_a_request() {
    let f = parse(S3_TEXT).unwrap();
    let ProviderConfig::S3(s3) = &f.locations.0[0].provider else {
        panic!("not s3")
    };
    assert_eq!(s3.bucket, "b");
    assert_eq!(s3.region.as_deref(), Some("eu-central-1"));
    assert_eq!(s3.path_style, Some(true));
    assert_eq!(s3.prefix, "heirloom/");
    assert_eq!(s3.timeout_secs, 60, "S3Config's defaults apply");
    assert_eq!(
        s3.access_key_id.as_ref().map(|k| k.expose()),
        Some("AKIDEXAMPLE")
    );
    // Nothing listens on port 9: building must not send a request.
    let cfg = f
        .to_engine_config(Path::new("."), KeySource::passphrase("x"))
        .unwrap();
    assert_eq!(cfg.locations.len(), 1);
    assert_eq!(cfg.locations[0].id, "offsite");
    assert_eq!(cfg.locations[0].tier, Tier::Cold);

    let (line, msg) = config_error(&S3_TEXT.replace("bucket", "buckte"));
    assert_eq!(line, Some(9));
    assert!(msg.contains("buckte"), "{msg}");
    let (_, msg) =
        config_error(&S3_TEXT.replace("[locations.s3]\n", "[locations.s3]\nbogus = 1\n"));
    assert!(msg.contains("bogus"), "{msg}");
}

#[cfg(not(feature = "s3"))]
#[test]
fn s3_locations_parse_but_do_not_build_without_the_feature() {
    let f = parse(S3_TEXT).unwrap();
    assert!(matches!(&f.locations.0[0].provider, ProviderConfig::S3(_)));
    let err = f
        .to_engine_config(Path::new("."), KeySource::passphrase("x"))
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotImplemented(m) if m.starts_with("s3 locations") && m.contains("`s3` feature")),
        "{err}"
    );
}

#[test]
fn the_key_comes_from_the_key_file_or_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("heirloom.toml");
    let f = parse(GOOD).unwrap();
    let err = f.key_source(dir.path(), &file).unwrap_err().to_string();
    assert!(err.contains("key_file") && err.contains("k.key"), "{err}");
    KeySource::generate_key_file(&dir.path().join("k.key"), &crate::Context::default()).unwrap();
    assert!(matches!(
        f.key_source(dir.path(), &file).unwrap(),
        KeySource::KeyFile(p) if p == dir.path().join("k.key")
    ));
}

#[test]
fn init_local_writes_a_file_that_loads_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("heirloom.toml");
    let data = dir.path().join("heirloom-data");
    let ctx = crate::Context::default();
    let made = init_local(&file, &data, 5, true, &ctx).unwrap();
    assert_eq!(made.location_dirs.len(), 5);
    assert!(made.location_dirs.iter().all(|d| d.is_dir()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = made.key_file.as_ref().unwrap();
        assert_eq!(
            std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("path = \"heirloom-data/loc-3\""), "{text}");
    let parsed = FileConfig::read(&file).unwrap();
    assert_eq!(parsed.to_toml().unwrap(), text, "rendering is stable");
    let cfg = load(&file).unwrap();
    assert_eq!(cfg.locations.len(), 5);
    assert_eq!(cfg.locations[4].region, "region-5");
    assert!(matches!(cfg.key, KeySource::KeyFile(_)));

    assert!(matches!(
        init_local(&file, &data, 5, true, &ctx),
        Err(Error::Config { .. })
    ));
    std::fs::remove_file(&file).unwrap();
    std::fs::write(data.join("loc-2").join("x"), b"x").unwrap();
    let err = init_local(&file, &data, 5, false, &ctx)
        .unwrap_err()
        .to_string();
    assert!(err.contains("loc-2"), "{err}");
    assert!(!file.exists());
}

#[test]
fn any_file_config_renders_and_parses_back() {
    let mut f = parse(GOOD).unwrap();
    f.locations.0.push(LocationConfig {
        id: "s".into(),
        region: "r".into(),
        tier: Tier::Cold,
        provider: ProviderConfig::S3(s3_table()),
    });
    let text = f.to_toml().unwrap();
    assert_eq!(parse(&text).unwrap(), f, "{text}");
}

#[cfg(feature = "s3")]
fn s3_table() -> S3Table {
    let mut s = crate::provider::s3::S3Config::new("b\"q").with_prefix("p/");
    s.path_style = Some(true);
    s
}

#[cfg(not(feature = "s3"))]
fn s3_table() -> S3Table {
    toml::from_str("bucket = \"b\\\"q\"\nprefix = \"p/\"\npath_style = true\n").unwrap()
}
