"""Whole numbers in every YAML medtrain reads are read as YAML 1.2 reads them, as its floats are: PyYAML's YAML 1.1
rule had read a config's ``epochs: 012`` as 10 (octal) and ``epochs: 1:30`` as 90 (base 60) without a word."""
import pytest

from medtrain import config as config_mod
from medtrain._yaml import read_yaml
from medtrain.errors import MedtrainError


@pytest.mark.parametrize("text, value", [
    ("012", 12), ("010", 10), ("0", 0), ("-5", -5), ("+7", 7), ("0o17", 15), ("0x1F", 31),
    ("1:30", "1:30"), ("1e-3", 0.001), ("2.50", 2.5), ("'012'", "012"),
])
def test_numbers_are_read_as_yaml_1_2_reads_them(text, value):
    got = read_yaml(f"n: {text}")["n"]
    assert got == value and type(got) is type(value)


def test_a_config_file_s_leading_zero_is_decimal_and_a_sexagesimal_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 012\nseed: 010\n")
    cfg = config_mod.resolve(config_mod.load_yaml(path))
    assert (cfg.epochs, cfg.seed) == (12, 10)
    path.write_text("epochs: 1:30\n")
    with pytest.raises(MedtrainError, match="epochs"):
        config_mod.resolve(config_mod.load_yaml(path))
