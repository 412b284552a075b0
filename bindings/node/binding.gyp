# The Node-API addon, in C, linked statically with inmem (build/libinmem.a by default).
# node.mk sets INMEM_LIB (the library to link), INMEM_CFLAGS/INMEM_LDFLAGS (sanitizer flags)
# and runs node-gyp with --nodedir pointing at the installed Node headers (nothing downloaded).
{
  "targets": [
    {
      "target_name": "inmem",
      "sources": ["src/addon.c", "src/txn.c", "src/prims.c", "src/async.c", "src/langgraph.c",
                  "src/history.c", "src/wait.c"],
      "include_dirs": ["../../include"],
      "cflags!": ["-fno-exceptions"],
      "cflags": [
        "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Wshadow", "-Wstrict-prototypes",
        "-Wmissing-prototypes", "-Wvla",
        "<!@(node -p \"process.env.INMEM_CFLAGS || ''\")"
      ],
      "ldflags": ["<!@(node -p \"process.env.INMEM_LDFLAGS || ''\")"],
      "libraries": [
        "<!(node -p \"require('path').resolve(process.env.INMEM_LIB || '../../build/libinmem.a')\")",
        "-lxxhash", "-lpthread", "-lm"
      ]
    }
  ]
}
