"""The examples and notes under ``stylepipe train`` and ``stylepipe eval``'s ``--help``
(argparse epilogs), apart from the options they follow (:mod:`stylepipe_training.plugin`)."""

STYLE_EPILOG = """\
examples:
  stylepipe train style starry.jpg --data photos/ --name starry --loss-net vgg16-random \\
      --image-size 256 --iterations 2000
  stylepipe train style --resume --name starry       continue after Ctrl-C or a reboot
  stylepipe train style starry.jpg --data photos/ --name starry2 --init-from starry \\
      --iterations 4000                           continue a model, not a run folder
  stylepipe train style --resume --name starry --iterations 4000   train longer
  stylepipe run photos -o out --filter style:model=starry

Runs live in <user data dir>/runs/NAME (--workdir to change): checkpoints every
--checkpoint-every steps with a preview, losses.csv and losses.png. Ctrl-C (or SIGTERM)
finishes the step, writes a checkpoint and exits with status 130. When the last step is
done the model is installed as a style pack and usable by the `style` filter at once.
A --name that a bundled or plugin model already has (mosaic, sr4, ...) is refused before
training starts; --force trains it anyway, and the model is then addressed as
stylepipe_local/NAME.
"""

SR_EPILOG = """\
examples:
  stylepipe train sr --scale 4 --data photos/ --name my-x4 --loss-net vgg16-random \\
      --iterations 2000
  stylepipe train sr --scale 4 --loss pixel --data photos/ --name my-x4-pixel --iterations 2000
  stylepipe train sr --resume --name my-x4
  stylepipe eval sr --model my-x4 --data Set5/HR
  stylepipe run photos -o big --filter upscale:model=my-x4

A --name that a bundled or plugin model already has (sr4, mosaic, ...) is refused before
training starts; --force trains it anyway (the model is then stylepipe_local/NAME).
"""

EVAL_EPILOG = """\
examples:
  stylepipe eval sr --model sr4 --data Set5/HR
  stylepipe eval sr --model sr8 --data BSD100/HR --json > bsd100.json
  stylepipe eval sr --model sr4-pixel --data Set14/HR --degradation bicubic   no blur first
"""

TRAIN_EPILOG = """\
examples:
  stylepipe train style starry.jpg --data photos/ --name starry --iterations 2000
  stylepipe train sr --scale 4 --data photos/ --name my-x4 --iterations 2000
  stylepipe train style --resume --name starry       continue after Ctrl-C or a reboot
  stylepipe train style starry.jpg --data photos/ --name starry2 --init-from starry \\
      --iterations 4000                           continue a model, not a run folder

`stylepipe train style --help` and `stylepipe train sr --help` list every option.
"""

EVAL_GROUP_EPILOG = """\
examples:
  stylepipe eval sr --model sr4-pixel --data Set5/HR
  stylepipe eval sr --model my-x4 --data BSD100/HR --json > bsd100.json
"""
