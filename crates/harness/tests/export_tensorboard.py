"""Reads a `harness export tensorboard` folder with the real `tensorboard` package and
prints, as JSON, what TensorBoard sees: per run, its scalars (EventAccumulator) and its
HParams session (the plugin data parsed with tensorboard's own plugin_data_pb2); the
session groups of the HParams dashboard (its list_session_groups handler over the same
data provider that `tensorboard --logdir` serves); and the custom scalars dashboard's
layout (its plugin's layout_impl). Non-finite floats are written as the
strings "nan", "inf", "-inf" (JSON has no such numbers).

Usage: python export_tensorboard.py OUT_DIR
"""

import json
import math
import os
import sys

from tensorboard import context
from tensorboard.backend.event_processing import data_provider
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from tensorboard.plugins.custom_scalar import custom_scalars_plugin
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import backend_context
from tensorboard.plugins.hparams import list_session_groups
from tensorboard.plugins.hparams import metadata
from tensorboard.plugins.hparams import plugin_data_pb2


def number(x):
    return x if math.isfinite(x) else str(x)


def proto_value(v):
    kind = v.WhichOneof("kind")
    return number(getattr(v, kind)) if kind == "number_value" else getattr(v, kind)


def run_contents(path):
    acc = ea.EventAccumulator(path, size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    acc.Reload()
    scalars = {
        tag: [[e.step, e.wall_time, number(e.value)] for e in acc.Scalars(tag)]
        for tag in acc.Tags()["scalars"]
    }
    descriptions = {
        tag: acc.SummaryMetadata(tag).summary_description
        for tag in acc.Tags()["scalars"]
    }
    session = {}
    try:
        hparams = acc.PluginTagToContent(metadata.PLUGIN_NAME)
    except KeyError:  # not a session (the mean runs)
        hparams = {}
    for tag, content in hparams.items():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        which = data.WhichOneof("data")
        if which == "session_start_info":
            s = data.session_start_info
            session["tag_start"] = tag
            session["version"] = data.version
            session["group_name"] = s.group_name
            session["start_time_secs"] = s.start_time_secs
            session["hparams"] = {k: proto_value(v) for k, v in s.hparams.items()}
        elif which == "session_end_info":
            e = data.session_end_info
            session["tag_end"] = tag
            session["status"] = api_pb2.Status.Name(e.status)
            session["end_time_secs"] = e.end_time_secs
    files = sorted(f for f in os.listdir(path) if "tfevents" in f)
    return {
        "files": files,
        "scalars": scalars,
        "descriptions": descriptions,
        "session": session,
    }


def tb_context(logdir):
    """What `tensorboard --logdir` gives its plugins."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, logdir)
    return base_plugin.TBContext(
        logdir=logdir, multiplexer=multiplexer, data_provider=provider
    )


def custom_scalars_layout(tb_context):
    """The custom scalars dashboard's layout, merged over all runs by the plugin."""
    plugin = custom_scalars_plugin.CustomScalarsPlugin(tb_context)
    layout = plugin.layout_impl(context.RequestContext(), "")
    return json.loads(layout) if isinstance(layout, (str, bytes)) else layout


def session_groups(tb_context):
    # As the dashboard asks by default: every status, metrics averaged over a group.
    request = api_pb2.ListSessionGroupsRequest(
        allowed_statuses=[
            api_pb2.STATUS_UNKNOWN,
            api_pb2.STATUS_SUCCESS,
            api_pb2.STATUS_FAILURE,
            api_pb2.STATUS_RUNNING,
        ],
        aggregation_type=api_pb2.AGGREGATION_AVG,
        start_index=0,
        slice_size=1000,
    )
    response = list_session_groups.Handler(
        context.RequestContext(), backend_context.Context(tb_context), "", request
    ).run()
    return {
        g.name: {
            "sessions": sorted(s.name for s in g.sessions),
            "statuses": sorted(api_pb2.Status.Name(s.status) for s in g.sessions),
            "hparams": {k: proto_value(v) for k, v in g.hparams.items()},
            "metrics": {
                m.name.group + "|" + m.name.tag: number(m.value)
                for m in g.metric_values
            },
        }
        for g in response.session_groups
    }


def main():
    out = sys.argv[1]
    runs = {}
    for dirpath, _, files in os.walk(out):
        if any("tfevents" in f for f in files):
            runs[os.path.relpath(dirpath, out)] = run_contents(dirpath)
    tb = tb_context(out)
    print(
        json.dumps(
            {
                "runs": runs,
                "groups": session_groups(tb),
                "layout": custom_scalars_layout(tb),
            }
        )
    )


if __name__ == "__main__":
    main()
