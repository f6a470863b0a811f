"""A finished run's own data read again (eval, export, explain of the run) without repeating what the loaders say of
a data set: the run said it when it trained (and its report records what it found), so eval and export had said
the training CSV's "label 'none'" line, the squashed-images line... again at every command. Data a user gives a
command (eval --data, predict's inputs) is read without it: what is said of it is news."""
from __future__ import annotations

import contextlib
import warnings


def data_set_warnings() -> tuple[type[Warning], ...]:
    """The classes of the warnings medtrain's loaders say of a data set as they read it (not of a run's recorded
    settings: an older medtrain's ``image_size`` of an .npz run, never said when it trained, is said at eval)."""
    from medtrain.data import StoreNotAppliedWarning
    from medtrain.data._dicom_grid import NonImageDicomWarning
    from medtrain.data._multilabel_table import NoFindingWarning
    from medtrain.data._survey import (BitDepthsWarning, EnlargedImagesWarning, GreyAsColourWarning,
                                       SquashedImagesWarning, TransparentImagesWarning)
    from medtrain.data._table_checks import RareClassWarning, SplitShareWarning
    from medtrain.data.duplicates import DuplicateImagesWarning
    from medtrain.data.geometry import CutVolumeWarning
    from medtrain.data.intensity import HounsfieldPercentileWarning
    from medtrain.data._medmnist_names import NamedLikeMedmnistWarning
    from medtrain.data.medmnist import OneHotLabelsWarning
    from medtrain.data.nifti import NoAirWarning
    from medtrain.data.table import GroupCaseWarning, LargeGroupWarning, MissingLabelWarning
    from medtrain.data.volumes import SkippedEntryWarning

    return (StoreNotAppliedWarning, NoFindingWarning, BitDepthsWarning, SquashedImagesWarning, EnlargedImagesWarning,
            GreyAsColourWarning, TransparentImagesWarning, RareClassWarning, SplitShareWarning, DuplicateImagesWarning,
            CutVolumeWarning, HounsfieldPercentileWarning, OneHotLabelsWarning, NamedLikeMedmnistWarning, NoAirWarning,
            GroupCaseWarning, LargeGroupWarning, MissingLabelWarning, NonImageDicomWarning, SkippedEntryWarning)


@contextlib.contextmanager
def said_when_trained():
    """Within it, the loaders' data-set warnings (:func:`data_set_warnings`) are not said; every other warning is."""
    with warnings.catch_warnings():
        for category in data_set_warnings():
            warnings.filterwarnings("ignore", category=category)
        yield
