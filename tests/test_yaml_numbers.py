"""Whole numbers in every YAML medtrain reads are read as YAML 1.2 reads them, as its floats are: PyYAML's YAML 1.1
rule had read a config's ``epochs: 012`` as 10 (octal) and ``epochs: 1:30`` as 90 (base 60) without a word."""
import pytest

from medtrain import config as config_mod
from medtrain._yaml import read_yaml, write_yaml
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


def test_a_string_that_reads_as_a_number_is_written_quoted_and_read_back_as_the_string(tmp_path):
    """The writer quoted by YAML 1.1's rules: a CSV column or name "1e-3" went into config.yaml bare and came back
    as the number 0.001 ("0o17" as 15); every value medtrain writes reads back as it was."""
    values = {"strings": ["1e-3", "1e3", "6.02e23", "0o17", "0x1F", "012", "1:30", "yes", "null", "~", "-.inf", "flip"],
              "numbers": [1e-3, 0.5, 1e20, float("inf"), 12, -3], "others": [True, False, None]}
    write_yaml(tmp_path / "v.yaml", values)
    back = read_yaml((tmp_path / "v.yaml").read_text())
    assert back == values and all(type(a) is type(b) for k in values for a, b in zip(back[k], values[k]))
    cfg = config_mod.resolve({"data": "d.csv", "group_column": "1e-3"})
    write_yaml(tmp_path / "config.yaml", cfg.to_dict())
    assert config_mod.resolve(config_mod.load_yaml(tmp_path / "config.yaml")).group_column == "1e-3"
