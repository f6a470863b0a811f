"""A key given twice in a YAML file medtrain reads (a ``--config`` file, an augmentation policy, a search space, a
``compare`` recipe) is refused in one line naming the file, the key and both lines: PyYAML keeps the last one
silently, so ``train --config`` of a file with ``lr: 0.1`` and, further down, ``lr: 0.5`` trained at 0.5 and said
nothing. Keys merged in with ``<<: *anchor`` are overridden as YAML means, not refused."""
from __future__ import annotations

import pytest

from conftest import run_cli
from medtrain import _compare_grid
from medtrain._yaml import read_yaml
from medtrain.augment.policy_spec import load_policy
from medtrain.config import load_yaml
from medtrain.errors import MedtrainError
from medtrain.tune.space import load_space

READERS = {"config file": load_yaml,
           "search space file": load_space,
           "recipe file": lambda p: _compare_grid.load_recipes({"config": [str(p)]}),
           "policy file": load_policy}


@pytest.mark.parametrize("what", READERS)
def test_a_key_given_twice_is_refused_naming_file_key_and_lines(tmp_path, what):
    path = (tmp_path / "f.yaml").absolute()
    path.write_text("lr: 0.1\nepochs: 3\n# the learning rate again\nlr: 0.5\n")
    with pytest.raises(MedtrainError) as e:
        READERS[what](path)
    assert str(e.value) == f"{what} {path}: key 'lr' is given twice (lines 1 and 4); keep one"


def test_a_policy_file_with_a_key_given_twice_is_refused(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("layers: 1\nsub_policies:\n- [[Rotate, 1.0, 4]]\nlayers: 2\n")
    with pytest.raises(MedtrainError, match=r"key 'layers' is given twice \(lines 1 and 4\)"):
        load_policy(path)


def test_a_nested_or_flow_duplicate_is_refused_too():
    with pytest.raises(Exception, match=r"key 'flip_p' is given twice \(lines 2 and 3\)"):
        read_yaml("augment_params:\n  flip_p: 0.1\n  flip_p: 0.9\n")
    with pytest.raises(Exception, match=r"key 'a' is given twice \(line 1\)"):
        read_yaml("{a: 1, b: 2, a: 3}")


def test_merged_keys_still_override_and_lists_of_mappings_are_no_duplicates():
    assert read_yaml("base: &b {lr: 0.1, epochs: 3}\nrun:\n  <<: *b\n  lr: 0.5\n")["run"] == {"lr": 0.5, "epochs": 3}
    assert read_yaml("- {lr: 0.1}\n- {lr: 0.5}\n") == [{"lr": 0.1}, {"lr": 0.5}]


def test_train_with_a_config_giving_a_key_twice_exits_2_before_making_the_run(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("epochs: 1\nlr: 0.1\nepochs: 2\n")
    code, out, err = run_cli(capsys, "train", "--config", config, "--dataset", "breastmnist",
                             "--out", tmp_path / "run")
    assert code == 2
    assert err.strip().splitlines() == [f"medtrain: error: config file {config}: key 'epochs' is given twice "
                                        "(lines 1 and 3); keep one"]
    assert not (tmp_path / "run").exists()


def test_augment_params_giving_a_key_twice_on_the_command_line_names_the_key(tmp_path, capsys):
    """``--augment-params "flip_p=0.1,flip_p=0.9"``: the key given twice is named (the flag's text is read as a YAML
    mapping, whose line numbers mean nothing on a command line), not "cannot read ... as dict"."""
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--dataset", "breastmnist", "--augment-params", "flip_p=0.1,flip_p=0.9",
                           "--epochs", "1", "--out", out)
    assert code == 2
    assert err.strip().splitlines() == ["medtrain: error: augment_params: flip_p is given twice in "
                                        "'flip_p=0.1,flip_p=0.9'; keep one"]
    assert not out.exists()


MERGES = {
    "chained": "base: &b\n  lr: 0.1\nmid: &m\n  <<: *b\n  lr: 0.2\ntop:\n  <<: *m\n  epochs: 3\n",
    # an anchor that merges and overrides, defined deeper than a mapping that merges it: PyYAML's flatten_mapping
    # had rewritten its node in place (the merged lr prepended) before the check reached it
    "nested anchor": "b: &b\n  lr: 0.1\ndefs:\n  inner:\n    m: &m\n      <<: *b\n      lr: 0.2\nuse:\n  <<: *m\n",
    "list merge, both set the key": "b: &b {lr: 0.1}\nc: &c {lr: 0.3}\nuse:\n  <<: [*b, *c]\n",
    "list merge overridden": "b: &b {lr: 0.1}\nc: &c {lr: 0.3}\nuse:\n  <<: [*b, *c]\n  lr: 0.2\n",
    "nested list merge": "a: &a {lr: 0.1}\nb: &b {lr: 0.3}\ndefs:\n  inner:\n    m: &m\n      <<: [*a, *b]\n"
                         "use:\n  <<: *m\n",
    "merge used twice": "b: &b {lr: 0.1, x: 1}\nm: &m\n  <<: *b\n  lr: 0.2\none: {<<: *m}\ntwo:\n  deep:\n    <<: *m\n",
}


@pytest.mark.parametrize("name", MERGES)
def test_merged_anchors_are_read_as_yaml_reads_them(name):
    """Merges (``<<``) of anchors that merge in turn, whatever their order and depth, are read as ``yaml.safe_load``
    reads them, no key refused."""
    import yaml
    assert read_yaml(MERGES[name]) == yaml.safe_load(MERGES[name])


def test_a_duplicate_inside_a_merged_anchor_is_still_refused_with_its_lines():
    with pytest.raises(Exception, match=r"key 'lr' is given twice \(lines 4 and 5\)"):
        read_yaml("b: &b {lr: 0.1}\ndefs:\n  m: &m\n    lr: 0.2\n    lr: 0.3\nuse:\n  <<: [*b, *m]\n")
    with pytest.raises(Exception, match=r"key 'epochs' is given twice \(lines 4 and 6\)"):
        read_yaml("b: &b {lr: 0.1}\nrun:\n  <<: *b\n  epochs: 1\n  lr: 0.2\n  epochs: 2\n")


def test_a_recursive_alias_is_walked_once():
    import yaml
    text = "a: &a\n  self: *a\n  lr: 0.1\n"
    got, want = read_yaml(text), yaml.safe_load(text)
    assert got["a"]["self"] is got["a"] and want["a"]["self"] is want["a"]
