use std::path::Path;

use bump_pipeline::PipelineConfig;

#[test]
fn pipeline_toml_equals_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipeline.toml");
    let cfg = PipelineConfig::load(&path).unwrap();
    let mut expected = PipelineConfig::default();
    expected.input.preset = Some("streetbump".into());
    assert_eq!(cfg, expected);
}
