"""``stylepipe run``: apply a pipeline to files, folders and globs."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import TYPE_CHECKING

from stylepipe.app import App
from stylepipe.errors import UsageError
from stylepipe.imaging.formats import RAW_EXTENSIONS, normalize_format
from stylepipe.imaging.read import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    from stylepipe.engine.engines import Engine
    from stylepipe.pipeline import Pipeline

EPILOG = f"""\
examples:
  stylepipe run photos -o out --filter resize:scale=0.5
  stylepipe run photo.jpg -o small.jpg --filter resize:0.5        one file to one file
  stylepipe run photos -o out --filter style:mosaic --name '{{stem}}_{{model}}{{ext}}'
  stylepipe run photos -o out --recursive -p web.toml
  stylepipe run 'shots/**/*.png' -o out --filter grayscale --filter sharpen --format webp
  stylepipe run photos -o out -p style.toml --skip-existing     finish an interrupted batch
  stylepipe run scan.tif -o out --filter autocontrast --max-pixels 0
  stylepipe run photos -o out --filter sharpen --report report.json   per-file results
  stylepipe run photos -o out -p style.toml --engine ray:actors=4     on Ray (stylepipe[ray])

--report FILE writes JSON: the counts and, for every input, its status (done,
skipped, failed or "not processed"), the one-line reason and the output path
(--report - prints it on stdout).

Outputs mirror the input tree under -o; the name template fields are {{stem}}, {{ext}},
{{filter}}, {{model}} (the style or upscale model) and {{scale}} (the upscale factor),
default {{stem}}{{ext}}: --name '{{stem}}_{{model}}{{ext}}' lets several styles share a
folder. With a single input, -o may name the output file (out.jpg). An existing output is
a per-file failure unless --skip-existing or --overwrite (when every output exists, the
run is refused before it starts); an input file is never overwritten, and -o may not be
an input folder. Hidden files and files without an image suffix are left out and
counted, and so are images in subfolders without --recursive. HEIC needs
'stylepipe[heif]', camera RAW (.dng .cr2 .nef .arw ...) 'stylepipe[raw]'; RAW becomes a
16-bit TIFF unless --format says otherwise. For the style and upscale networks,
wide-gamut (Display P3, Adobe RGB) inputs are converted to sRGB, and the results back
to the input's profile (--output-profile srgb: kept in sRGB). EXIF (orientation
applied and reset), ICC profile, DPI, XMP and IPTC are kept unless --strip-metadata;
outputs note stylepipe, the steps and models in XMP and EXIF Software (--no-provenance);
resize and upscale divide the DPI (same print size); 16-bit PNG/TIFF stay 16-bit; JPEG
output puts transparent areas on white. Animated images: first frame.
--max-pixels defaults to {DEFAULT_MAX_PIXELS:,} pixels (Pillow's guard).

--filter NAME:key=value,... sets parameters; a bare value sets the filter's main
parameter (style:mosaic is style:model=mosaic, resize:0.5 is resize:scale=0.5) and a
bare true/false parameter name turns it on (style:mosaic,preserve_color).

--engine NAME[:key=value,...] (or [runtime] engine) chooses what runs the batch: local
(this process, the default) or ray (a local Ray instance, or the cluster of --address or
RAY_ADDRESS; needs 'stylepipe[ray]'). Planning is the same; outputs are byte-identical
when device, precision, tile size and --threads are.

exit status: 0 all done or skipped, 1 some files failed, 2 usage error, 130 interrupted.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    """Add ``run`` to the command line."""
    parser = subparsers.add_parser(
        "run",
        help="apply a pipeline to images",
        description="Apply a pipeline (-p FILE, or --filter steps) to image files, folders "
        "and quoted glob patterns, writing to the -o folder (or -o file, for one input).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image file, folder or glob")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        metavar="OUT",
        help="output folder; or an image file name (out.jpg) when there is one input",
    )
    steps = parser.add_argument_group("pipeline (exactly one of)")
    steps.add_argument("-p", "--pipeline", type=Path, metavar="FILE", help="pipeline TOML")
    steps.add_argument(
        "--filter",
        action="append",
        dest="filters",
        metavar="SPEC",
        help="NAME[:key=value,...] (a bare value sets the main parameter: style:mosaic); "
        "repeat to chain steps in order",
    )
    _add_batch_options(parser)
    _add_output_options(parser)
    parser.set_defaults(handler=run)


def _add_batch_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("batch")
    group.add_argument("--recursive", action="store_true", help="walk subfolders")
    existing = group.add_mutually_exclusive_group()
    existing.add_argument(
        "--skip-existing", action="store_true", help="leave outputs that exist alone"
    )
    existing.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    group.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    group.add_argument(
        "-q", "--quiet", action="store_true", help="errors only: no progress, summary or warnings"
    )
    group.add_argument(
        "--report",
        metavar="FILE",
        help="write a JSON report of every input (status, reason, output); - for stdout",
    )
    group.add_argument(
        "--max-pixels",
        type=_non_negative,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help="refuse images with more pixels (decompression bombs); 0 = no limit",
    )


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output and runtime (override the pipeline file)")
    group.add_argument(
        "--format",
        help="png, jpeg, webp, tiff, avif or heif (default: the input's; RAW becomes tiff, "
        "others png)",
    )
    group.add_argument("--quality", metavar="1-100", help="JPEG/WebP/AVIF/HEIC quality")
    group.add_argument("--compression", metavar="0-9", help="PNG compression level")
    group.add_argument(
        "--name",
        metavar="TEMPLATE",
        help="fields {stem} {ext} {filter} {model} {scale}, e.g. '{stem}_{model}{ext}'",
    )
    group.add_argument(
        "--output-profile",
        choices=("source", "srgb"),
        default="source",
        help="colour profile of outputs from networks: the input's (default) or sRGB",
    )
    group.add_argument(
        "--no-provenance",
        dest="provenance",
        action="store_false",
        help="do not note stylepipe, the steps and models in XMP and EXIF Software",
    )
    group.add_argument(
        "--strip-metadata", action="store_true", help="drop EXIF, ICC, DPI, XMP and IPTC"
    )
    group.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    group.add_argument("--precision", help="auto, fp32, bf16 or fp16")
    group.add_argument("--tile", metavar="N", help="input pixels per tile, 0 = whole, or auto")
    group.add_argument(
        "--threads", metavar="N", help="torch threads per process (output bytes depend on it)"
    )
    group.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the network for whole-frame (one-tile) passes: for CUDA, where "
        "it can pay off over long batches of one image size; costs tens of seconds of "
        "compiling first; measured 3%% faster on this project's 2-core CPU (default: off)",
    )
    group.add_argument(
        "--engine",
        metavar="NAME[:key=value,...]",
        help="what runs the batch: local (default) or ray, e.g. ray:actors=4,num_gpus=1",
    )
    group.add_argument(
        "--address",
        metavar="ADDRESS",
        help="the Ray cluster for --engine ray: auto or HOST:PORT (default: $RAY_ADDRESS, "
        "else a local Ray instance)",
    )


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (no limit) or more")
    return value


def run(args: argparse.Namespace, app: App) -> int:
    """Build the pipeline, run the batch, show the summary; returns the exit status."""
    from stylepipe.engine.batch import execute, plan_batch
    from stylepipe.engine.job import BatchOptions
    from stylepipe.engine.report import batch_report, write_report

    if args.quiet:
        app.ui.quiet = True
    pipeline = _pipeline(args, app)
    engine = _engine(args, app, pipeline)
    options = BatchOptions(
        recursive=args.recursive,
        skip_existing=args.skip_existing,
        overwrite=args.overwrite,
        fail_fast=args.fail_fast,
        strip_metadata=args.strip_metadata,
        output_profile=args.output_profile,
        provenance=args.provenance,
        max_pixels=args.max_pixels,
    )
    job = plan_batch(pipeline, args.inputs, args.output, options)
    summary = execute(app, job, engine)
    app.ui.batch_summary(summary)
    if args.report == "-":
        app.ui.json(batch_report(job, summary))
    elif args.report:
        write_report(Path(args.report), batch_report(job, summary))
    return int(summary.exit_code)


def _engine(args: argparse.Namespace, app: App, pipeline: Pipeline) -> Engine:
    """The engine of ``--engine`` (else ``[runtime] engine``), with ``--address``;
    checked before any input is read (an engine that is not installed says so)."""
    from stylepipe.engine.engines import parse_engine_spec

    where = "--engine"
    if args.engine is None and pipeline.source is not None:
        where = f"{pipeline.source}:[runtime]:engine"
    extra = {"address": args.address} if args.address is not None else {}
    return parse_engine_spec(pipeline.runtime.engine, app.catalog, where=where, extra=extra)


def _pipeline(args: argparse.Namespace, app: App) -> Pipeline:
    from stylepipe.models.devices import check_device
    from stylepipe.pipeline import load_pipeline
    from stylepipe.pipeline_cli import pipeline_from_filter_specs, with_overrides

    if (args.pipeline is None) == (not args.filters):
        raise UsageError(
            "give exactly one of -p/--pipeline FILE or --filter SPEC",
            hint="e.g. --filter resize:scale=0.5, or -p pipeline.toml",
        )
    if args.format and f".{args.format.strip().lower().lstrip('.')}" in RAW_EXTENSIONS:
        normalize_format(args.format)  # raises: stylepipe reads RAW but does not write it
    device_check = functools.partial(check_device, hook=app.plugins.hook.select_device)
    if args.pipeline is not None:  # a --device given replaces the file's, checked below
        file_check = device_check if args.device is None else None
        pipeline = load_pipeline(args.pipeline, app.catalog, device_check=file_check)
    else:
        pipeline = pipeline_from_filter_specs(args.filters, app.catalog)
    return with_overrides(
        pipeline,
        output={
            "format": args.format,
            "quality": args.quality,
            "compression": args.compression,
            "name": args.name,
        },
        runtime={
            "device": args.device,
            "precision": args.precision,
            "tile": args.tile,  # "auto" becomes None (whole-image or automatic tiles)
            "threads": args.threads,
            "engine": args.engine,
            "compile": args.compile,
        },
        from_text=True,
        device_check=device_check,
    )
