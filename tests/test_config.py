import pytest

from medtrain.config import Config, resolve
from medtrain.errors import MedtrainError


def test_defaults_are_the_default_recipe():
    c = resolve()
    assert c == Config()
    assert c.dataset == "pneumoniamnist"


def test_later_layers_override_earlier_ones():
    c = resolve({"dropout": 0.1, "epochs": 5}, {"dropout": "0.5"})
    assert c.dropout == 0.5 and c.epochs == 5


def test_values_are_coerced_from_strings():
    c = resolve({"batch_norm": "false", "augment": "flip,cutmix", "weight-decay": "1e-4", "early_stop": "none"})
    assert c.batch_norm is False and c.augment == ("flip", "cutmix") and c.weight_decay == 1e-4
    assert c.early_stop is None


def test_a_colour_space_is_kept_in_one_spelling_whatever_its_case():
    # --color-space LAB had been recorded as typed: a rerun with lab was refused as other settings, and compare
    # --vary color_space=lab,LAB trained both as two settings
    assert resolve(None, {"color_space": "LAB"}).color_space == "lab" == Config(color_space="Lab").color_space
    assert resolve(None, {"color_space": "YCbCr"}).to_dict()["color_space"] == "ycbcr"


def test_data_without_dataset_clears_the_default_dataset():
    assert resolve({"data": "x.npz"}).dataset is None


@pytest.mark.parametrize("bad, words", [
    ({"dropout": 1.0}, "dropout"), ({"dropout": -0.1}, "dropout"), ({"weight_decay": -1}, "weight_decay"),
    ({"epochs": 0}, "epochs"), ({"lr": 0}, "lr"), ({"patience": -1}, "patience"), ({"size": 32}, "size"),
    ({"optimizer": "sdg"}, "did you mean sgd"), ({"early_stop": "val_aucc"}, "val_auc"),
    ({"dropuot": 0.1}, "did you mean dropout"), ({"epochs": "ten"}, "epochs"),
    ({"checkpoint": "lats"}, "did you mean last"),
    # (mc_dropout with annealed dropout that reaches 0 is refused for a new run only: tests/config/test_saved_run_checks.py)
    # seeds NumPy cannot take were tracebacks (one after config.yaml was written); 1.5 was truncated to 1
    ({"seed": -3}, "seed must be an integer from 0"), ({"seed": 2 ** 32}, "seed must be an integer from 0"),
    ({"seed": "99999999999"}, "seed must be"), ({"seed": "1.5"}, "seed: cannot read '1.5' as int"),
    ({"flip": "maybe"}, "flip must be auto, true or false, got 'maybe'"),
    ({"data": "x.npz", "dataset": "breastmnist"}, "give --dataset NAME or --data PATH, not both"),  # one was ignored
    # a 1-pixel image was accepted and failed later, inside the network
    ({"image_size": 1}, "image_size must be >= 4, got 1"), ({"image_size": 0}, "image_size must be >= 4"),
])
def test_bad_values_raise_one_clear_error(bad, words):
    with pytest.raises(MedtrainError, match=words):
        resolve(bad)


def test_integers_written_as_numbers_are_read_exactly():
    assert resolve({"seed": "7"}).seed == 7 and resolve({"seed": "2e3"}).seed == 2000 and resolve({"seed": 3.0}).seed == 3
    assert resolve({"seed": 2 ** 32 - 1}).seed == 2 ** 32 - 1


def test_numpy_scalars_of_a_sweep_are_read_as_the_numbers_they_show():
    """np.arange/linspace sweeps give np.int64 and np.float32 values (they were refused: 'cannot read')."""
    import numpy as np

    cfg = resolve({"epochs": np.int64(3), "dropout": np.float32(0.3), "flip": np.bool_(False), "seed": np.int32(2)})
    assert (cfg.epochs, cfg.dropout, cfg.flip, cfg.seed) == (3, 0.3, "false", 2) and type(cfg.epochs) is int
    with pytest.raises(MedtrainError, match="epochs: cannot read"):
        resolve({"epochs": np.float32(1.5)})


def test_a_later_layer_names_the_data_source_alone():
    # a config file's dataset and a flag's --data: the flag's source is the run's, the file's is dropped
    c = resolve({"dataset": "breastmnist", "epochs": 3}, {"data": "x.npz"})
    assert (c.dataset, c.data, c.epochs) == (None, "x.npz", 3)
    c = resolve({"data": "x.npz"}, {"dataset": "retinamnist"})
    assert (c.dataset, c.data) == ("retinamnist", None)


def test_a_home_relative_out_is_the_home_folder_wherever_it_was_written(monkeypatch, tmp_path):
    # "--out '~/runs/a'" quoted, or "out: ~/runs/a" in a YAML file: part of the run had gone to a literal ./~ folder
    monkeypatch.setenv("HOME", str(tmp_path))
    c = resolve({"dataset": "breastmnist", "out": "~/runs/a", "data_dir": "~/cache"})
    assert (c.out, c.data_dir) == (str(tmp_path / "runs" / "a"), str(tmp_path / "cache"))


def test_milestones_given_to_a_schedule_that_does_not_read_them_are_refused(capsys, tmp_path):
    """Only multistep reads milestones: given with the default onecycle schedule they had been recorded and ignored
    (as --aa-policy without autoaugment is refused). The default value itself, given or not, is no mistake."""
    from medtrain.config import check_read

    with pytest.raises(MedtrainError, match="milestones 0.3: schedule onecycle does not read them"):
        check_read(resolve({"milestones": "0.3"}))
    with pytest.raises(MedtrainError, match="schedule cosine"):
        check_read(resolve({"schedule": "cosine", "milestones": [0.2, 0.6]}))
    check_read(resolve({"schedule": "multistep", "milestones": "0.3"}))
    check_read(resolve({"schedule": "cosine"}))
    check_read(resolve({"milestones": "0.5,0.75"}))
    from medtrain.cli import main

    assert main(["train", "--data", "no-such.npz", "--milestones", "0.3"]) == 2  # refused before reading data
    assert "--milestones 0.3: schedule onecycle does not read them" in capsys.readouterr().err
    (tmp_path / "cell.yaml").write_text("milestones: [0.3]\ndata: no-such.npz\n")  # a compare cell's config
    assert main(["train", "--config", str(tmp_path / "cell.yaml")]) == 2
    assert "milestones" not in capsys.readouterr().err  # refused for the missing file, not for its milestones


def test_a_value_in_an_error_is_shown_shortened_and_the_key_named(tmp_path, capsys):
    """Six levels of nested YAML anchors (1 KB of config) had made a 58 MB error line, and two more would exhaust
    memory: the message shows the start of the value, built no further than that, and names the key."""
    from medtrain.cli import main

    levels = ['- &a0 ["x","x","x","x","x","x","x","x","x","x"]'] + [
        f"- &a{i} [{','.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]  # 10^7 strings once expanded
    (tmp_path / "laugh.yaml").write_text("milestones:\n" + "\n".join(levels) + "\n")
    assert main(["train", "--config", str(tmp_path / "laugh.yaml"), "--data", "no-such.npz"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("medtrain: error: milestones: cannot read [[") and len(err) < 200
    with pytest.raises(MedtrainError, match=r"^augment_params cutout_p: \[1, 2, 3, 4, \.\.\.\] holds a number"):
        resolve({"augment_params": {"cutout_p": [1, 2, 3, 4, 5, float("nan")]}})
    with pytest.raises(MedtrainError, match=r"^lr: cannot read '1{10,}\.\.\.1{10,}x' as float$"):
        resolve({"lr": "1" * 10**6 + "x"})


def test_a_policy_file_among_the_augmentations_is_recorded_absolutely(tmp_path, monkeypatch):
    """config.yaml had kept `augment: [flip, pol/ra.yaml]`: --resume from another folder could not find the policy,
    while the data path, recorded absolutely, was found."""
    from medtrain import config as config_mod

    (tmp_path / "pol").mkdir()
    (tmp_path / "pol" / "ra.yaml").write_text("policy: []\n")
    monkeypatch.chdir(tmp_path)
    cfg = config_mod.resolve({"augment": ["flip", "pol/ra.yaml"]})
    assert list(cfg.augment) == ["flip", str(tmp_path / "pol" / "ra.yaml")]
    monkeypatch.chdir(tmp_path / "pol")  # read back elsewhere: the same file
    assert config_mod.resolve({"augment": cfg.augment}).augment == cfg.augment


def test_paths_given_as_pathlib_paths_are_taken_as_their_text(tmp_path):
    # medtrain.load(Path), evaluate(Path) and predict([Path]) take them; a config dict had refused them
    from pathlib import Path

    cfg = resolve({"data": tmp_path / "images", "out": Path("runs") / "a", "data_dir": tmp_path})
    assert (cfg.data, cfg.data_dir) == (str(tmp_path / "images"), str(tmp_path))
    assert Path(cfg.out).parts[-2:] == ("runs", "a")


@pytest.mark.parametrize("said, pinned", [("balanced", "true"), ("Balanced", "true"), ("plain", "false")])
def test_the_class_weight_rule_named_as_the_summary_names_it_pins_it(said, pinned):
    # the summary prints "class weights balanced: pinned (--class-weights)": that word had been refused as a value
    assert resolve({"class_weights": said}).class_weights == pinned


def test_a_class_weight_rule_it_does_not_know_names_the_accepted_ones():
    with pytest.raises(MedtrainError, match="class_weights must be auto, true, false, prior-adjusted or "
                                            r"val-fitted \(balanced = true, plain = false\), got 'even'"):
        resolve({"class_weights": "even"})


def test_a_relative_pathlib_data_path_is_recorded_absolutely_as_its_text_is(tmp_path, monkeypatch):
    from pathlib import Path

    (tmp_path / "images").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve({"data": Path("images")}).data == resolve({"data": "images"}).data == str(tmp_path / "images")


def test_a_config_naming_a_pretrained_source_fine_tunes_it_as_the_cli_and_a_dict_do():
    """``Config(pretrained=...)`` resolves to ``transfer: finetune`` as ``--pretrained`` alone and
    ``{"pretrained": ...}`` do (it had trained from scratch, the dataclass's default beside the source, while a
    compare cell built from the same Config fine-tuned); a scratch control beside a source is a dict's to ask."""
    from medtrain._train_inputs import _as_config

    src = "/runs/source"
    assert _as_config(Config(pretrained=src)).transfer == "finetune"
    assert _as_config({"pretrained": src}).transfer == "finetune"
    assert _as_config(Config(pretrained=src, transfer="linear-probe")).transfer == "linear-probe"
    assert _as_config({"pretrained": src, "transfer": "scratch"}).transfer == "scratch"
    assert _as_config(Config()).transfer == "scratch"


def test_a_config_given_data_holds_no_dataset_as_its_run_records_none():
    # Config(data="mine.npz") had printed and held dataset='pneumoniamnist' while its run read mine.npz
    import dataclasses

    from medtrain.config import settings_of

    assert Config(data="mine.npz").dataset is None and "pneumoniamnist" not in repr(Config(data="mine.npz"))
    assert dataclasses.replace(Config(), data="mine.npz").dataset is None
    assert Config().dataset == "pneumoniamnist" and Config(dataset="breastmnist").dataset == "breastmnist"
    assert resolve(settings_of(Config(data="mine.npz"))).data == "mine.npz"
    # a source set on the instance afterwards is still the one source, as before
    late = Config()
    late.data = "mine.npz"
    assert resolve(settings_of(late)).dataset is None
