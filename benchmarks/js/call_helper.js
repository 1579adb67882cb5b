// In-page call of one of latency_helpers.js's helpers, window.__<name>(arg), for benchmarks/bench_latency.py:
// its end points (page.wait_for_function(source, arg=[name, arg], polling="raf")) and its reads of the arc view
// (page.evaluate(source, [name, arg])).
([name, arg]) => window["__" + name](arg);
