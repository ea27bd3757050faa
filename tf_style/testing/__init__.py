"""What the tests and the benchmarks share: tiny Caffe models, oracles, processes, a server.

Not part of the public API and not imported by tf_style itself:

- `caffe_writer`: writes .caffemodel and .prototxt files from plain layer dicts (synthetic VGG
  and NIN nets of any width).
- `caffe_nets`: tiny nets that exercise every Caffe layer type we read, and how to write them.
- `oracles`: OpenCV's Caffe importer as an independent oracle, and the layer comparison.
- `processes`: running the CLI, a tool or a Python snippet in a fresh interpreter.
- `httpserver`: a local HTTP server that serves files from memory and fails on purpose.
"""
