"""augment show says when --n asks for more images than the split holds (it showed the fewer rows without a word: a
bad-input walk), and says nothing when the split has enough."""
from conftest import run_cli


def test_more_images_than_the_split_holds_is_said_and_all_of_them_shown(tiny_npz, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "augment", "show", "--data", tiny_npz, "--augment", "shift", "--split", "val",
                           "--n", "100000", "--out", tmp_path / "g.png")
    assert code == 0
    assert "note: --n 100000: the val split holds 32 images; the grid shows them all" in out
    code, out, _ = run_cli(capsys, "augment", "show", "--data", tiny_npz, "--augment", "shift", "--split", "val",
                           "--n", "32", "--out", tmp_path / "g.png")
    assert code == 0 and "note: --n" not in out
