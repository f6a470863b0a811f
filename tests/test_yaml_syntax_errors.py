"""A YAML file that does not parse is said in one line with where PyYAML found the problem and what it is
(:func:`medtrain._yaml.syntax_error`): the first line of PyYAML's message alone ("while parsing a flow sequence") had
been kept, without the line, the column or the problem."""
from __future__ import annotations

import pytest

from medtrain._yaml import read_yaml_file
from medtrain.augment.policies import load_policy
from medtrain.errors import MedtrainError


@pytest.mark.parametrize("text, said", [
    ("sub_policies:\n- - [Rotate, 0.5, 3\n",
     "line 3, column 1: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence from line 2, "
     "column 5)"),
    ("epochs: 3\nlr: 0.1: 2\n", "line 2, column 8: mapping values are not allowed here"),
    ("a:\n\tb: 1\n", "line 2, column 1: found character '\\t' that cannot start any token (while scanning for the "
                     "next token)"),
])
def test_a_yaml_syntax_error_names_its_line_column_and_problem_in_one_line(tmp_path, text, said):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(MedtrainError) as e:
        read_yaml_file(path, "config file")
    assert str(e.value) == f"config file {path} is not valid YAML: {said}"


def test_a_policy_file_s_syntax_error_is_said_where_it_is(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("sub_policies:\n- - [Rotate, 0.5, 3\n")
    with pytest.raises(MedtrainError, match=r"^policy file .* is not valid YAML: line 3, column 1: expected ',' or "
                                            r"'\]'") as e:
        load_policy(path)
    assert "\n" not in str(e.value)
