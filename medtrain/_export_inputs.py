"""What an exported file expects as input: the steps that turn a file into the graph's input (what ``predict`` does
before the network) and what the graph does itself, written into the export's metadata
(:func:`medtrain.export.described`). Split out of :mod:`medtrain.export` (one concept per module)."""
from __future__ import annotations

from pathlib import Path

from medtrain.data import _holds_volumes
from medtrain.data._survey import DEEPER, EIGHT_BIT
from medtrain.data.intensity import PERCENTILES, parse_window
from medtrain.errors import MedtrainError
from medtrain.rundir import run_tta
from medtrain.runmodel import RunModel

#: how medtrain's image reader brings a grey image of more than 8 bits to uint8 before ``x / 255``
#: (:func:`medtrain.data.folder.read_image`), for a user feeding the exported file 16-bit or float images
HIGH_BIT_DEPTH = {"applies_to": "grey images of more than 8 bits per pixel (16/32-bit integer or float)",
                  "percentiles": list(PERCENTILES),
                  "to_uint8": "round(255 * clip((x - p_low) / (p_high - p_low), 0, 1)), p_low/p_high the image's "
                              "own percentiles (numpy's linear method); if p_high == p_low its min and max; "
                              "a constant image is 0; computed in float32"}
#: how medtrain maps a DICOM image's values to [0, 1] without a window (not CT, or no --window)
#: (:func:`medtrain.data.intensity.normalise_percentile`)
DICOM_PERCENTILES = {"percentiles": list(PERCENTILES),
                     "to_0_1": "clip((x - p_low) / (p_high - p_low), 0, 1), p_low/p_high the image's own percentiles "
                               "of its finite values (numpy's linear method); if p_high == p_low its min and max; a "
                               "constant image is 0; non-finite values are 0; computed in float32"}


def preprocessing(run: RunModel) -> dict:
    """What turns a file into the graph's input (``before_the_graph``, in order: what ``predict`` does) and what
    the graph does itself (``inside_the_graph``: not to be done again). A deployer following the metadata had
    resized with PIL's default filter (0.03 off, 4 of 42 classes changed), skipped the EXIF orientation and
    converted to the run's colour space a second time (48% of classes changed). ``image_depth``: the bit depth of
    the run's training images (:attr:`RunModel.image_depth`), which decides the image files' first step."""
    cfg, meta = run.cfg, run.meta
    side = run.input_shape[-1]
    inside = {"color_space": _colour_inside(cfg.color_space, run.input_shape[0]),
              "mean": meta["mean"], "std": meta["std"], "tta": run_tta(cfg, meta),
              "temperature": meta.get("temperature")}
    if len(run.input_shape) == 3 and _dicom_inputs(run):
        before, extra = _dicom_2d_steps(run)
    elif len(run.input_shape) == 3:
        depth_step, extra = _depth_step(run.image_depth)
        before = ["open the file with PIL and turn it as its EXIF orientation says (ImageOps.exif_transpose)",
                  depth_step,
                  "convert to " + ("RGB ('RGB')" if run.input_shape[0] == 3 else
                                   "one grey channel ('L'); an RGB(A) image only where its three channels are "
                                   "equal (a grey image stored as colour): medtrain predict refuses a colour one"),
                  f"resize to {side} x {side} with PIL's bilinear filter (Image.BILINEAR), the aspect ratio "
                  "squashed, if it is not that size",
                  "x / 255 as float32, shape (N, C, H, W)"]
    else:
        window = parse_window(cfg.window)  # a preset name as its numbers: "abdomen" is (40, 400)
        level = "a CT window (level, width) = %s HU: clip((x - (level - width / 2)) / width, 0, 1)" % (window,) \
            if window else "between the volume's own 1st and 99th percentiles: clip((x - p1) / (p99 - p1), 0, 1)"
        before = ["read the NIfTI volume or DICOM series and reorder its axes to RAS (nibabel's "
                  "as_closest_canonical); (D, H, W) = (Z, Y, X)",
                  (f"resample (trilinear, align_corners=False) to about {cfg.spacing} mm voxels: per axis of n "
                   f"voxels of s mm and target spacing t, to r = max(1, round(n * s / t)) voxels (Python's round, "
                   f"halves to even; torch.nn.functional.interpolate with size=, not scale_factor=: each voxel n * s / r mm, the "
                   f"extent kept); then per axis of r voxels: crop [(r - {side}) // 2, +{side}) or pad with the "
                   f"volume's minimum, the volume placed at ({side} - r) // 2"
                   if cfg.spacing else f"resize (trilinear) to {side} x {side} x {side}"),
                  f"map intensities to [0, 1] {level}",
                  "round to uint8 (x * 255), then x / 255 as float32, shape (N, 1, D, H, W)"]
        extra = {}
    return {"before_the_graph": before, "inside_the_graph": inside, "image_depth": run.image_depth,
            "input_size": list(run.input_shape), "spacing": cfg.spacing, "window": cfg.window,
            "uint8_to_float": "x / 255", "mc_dropout_not_included": cfg.mc_dropout,
            # flat copies of the earlier keys, for readers of the first format
            "color_space": cfg.color_space, "mean": meta["mean"], "std": meta["std"], **extra}


def _depth_step(depth: str | None) -> tuple[str, dict]:
    """The step of an image file's bit depth, as the run's training images had it (``depth``), and the rule it
    names. A run of 8-bit images had been told to stretch deeper ones to its own percentiles (``more_than_8_bit``),
    the very conversion ``medtrain predict`` refuses for it: intensities the network never learned."""
    if depth == EIGHT_BIT:
        return ("the run was trained on 8-bit images, read as they are: give it 8-bit images, made as the training "
                "images were; an image of more bits per pixel (16/32-bit integer or float) is not what the network "
                "learned, and medtrain predict refuses it: no rule here turns one into the training images' "
                "intensities"), {}
    if depth == DEEPER:
        return ("the run was trained on images of more than 8 bits per pixel: to uint8 by more_than_8_bit; an 8-bit "
                "image (read as it is, not stretched) is not what the network learned, and medtrain predict refuses "
                "it"), {"more_than_8_bit": HIGH_BIT_DEPTH}
    # mixed, or not recorded (a run before medtrain recorded it): each file by the rule of its own depth
    return "grey images of more than 8 bits per pixel: to uint8 by more_than_8_bit", {"more_than_8_bit": HIGH_BIT_DEPTH}


def _colour_inside(color_space: str, chans: int) -> str:
    """What the graph does of colour: the run's ``color_space`` setting names a conversion from RGB, but for
    ``rgb`` none, and a grey network's metadata had said "rgb" of its one channel."""
    if color_space.lower() != "rgb":
        return f"{color_space} (the graph converts from RGB)"
    given = "the RGB channels" if chans == 3 else "the one grey channel" if chans == 1 else f"the {chans} channels"
    return f"none: {given} as given (color_space rgb converts nothing)"


def _dicom_inputs(run: RunModel) -> bool:
    """Whether a 2D run was trained on DICOM files: ``--window`` is accepted for nothing else, otherwise its
    ``--data`` lists them (read as training reads it; data no longer there counts as image files)."""
    try:
        if parse_window(run.cfg.window) is not None:
            return True
        if not run.cfg.data:
            return False
        from medtrain.data._dicom_folder import dicom_tree

        data = Path(run.cfg.data)
        return _holds_volumes(data, getattr(run.cfg, "group_column", None)) or dicom_tree(data) is not None
    except (MedtrainError, OSError):
        return False


def _dicom_2d_steps(run: RunModel) -> tuple[list[str], dict]:
    """A 2D DICOM run's steps before the graph, as :func:`medtrain.data.volumes.load_entry` reads a DICOM file
    (``predict`` too): rescale, resize, window or percentiles, MONOCHROME1 inversion. They had been the PNG
    pipeline's (PIL, EXIF, PIL's bilinear resize), which a DICOM run never went through."""
    side, chans = run.input_shape[-1], run.input_shape[0]
    window = parse_window(run.cfg.window)
    percentiles = "between the image's own 1st and 99th percentiles (dicom_percentiles)"
    level = (f"for Modality CT through the window (level, width) = {window} HU: clip((x - (level - width / 2)) / "
             f"width, 0, 1); for other modalities {percentiles}" if window else percentiles)
    before = ["read the DICOM file with pydicom (one frame; multi-frame files are not read)",
              "grey images: x = stored value * RescaleSlope + RescaleIntercept (1 and 0 when absent), float32: "
              "Hounsfield units for CT",
              f"channels: the run takes {chans}; a grey image is one channel, a colour one (RGB, YBR, PALETTE COLOR) "
              f"is read as medtrain's DICOM reader reads it (medtrain.data.dicom)",
              f"resize to {side} x {side} if it is not that size: torch.nn.functional.interpolate(mode='bilinear', "
              f"align_corners=False, antialias=True) on these float values, before the intensity mapping, the "
              f"aspect ratio squashed",
              f"map intensities to [0, 1] {level}",
              "MONOCHROME1 images that are not CT: x = 1 - x (bright = dense; CT in Hounsfield units is not inverted)",
              "round to uint8 (x * 255), then x / 255 as float32, shape (N, C, H, W)"]
    extra = {"input_format": "DICOM", "dicom_percentiles": DICOM_PERCENTILES,
             "window_hu": ({"level": window[0], "width": window[1], "applies_to": "DICOM Modality CT"}
                           if window else None)}
    return before, extra
