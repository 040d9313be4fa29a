// The routing page. Every 2 s it asks /routing/data for the records after the last one it has
// ({"session", "after", "last", "records": [{worker, iteration, epoch, moe: {layer: {...}}, peer: {layer: {...}}}]};
// "after" -1 means every record of the session: start over) and draws, per MoE layer, each worker's latest expert
// load (bars), mean experts per token and dropped pairs over iterations; per PEER layer, the used fraction and KL to
// uniform over iterations. One series per worker (train --workers). Flot 0.8.3.
(function () {
    'use strict';
    var POLL_MS = 2000;
    var DATA = '/routing/data';
    var COLORS = ['#3b7dd8', '#d8553b', '#3bb273', '#8e5bd8', '#777777', '#d8a53b'];
    var BAR_SPAN = 0.8;
    // the fields drawn over iterations, per kind of layer
    var FIELDS = {moe: ['expertsPerToken', 'droppedPairs'], peer: ['usedFraction', 'klToUniform']};
    var LINE = {series: {lines: {show: true}, points: {show: false}}, grid: {hoverable: false},
        legend: {position: 'nw'}};

    // what the page has of the newest session: its newest record per worker, and per layer and field the points of
    // each worker, [[iteration, value], ...], appended as records arrive
    var run = newRun(null);

    function newRun(session) {
        return {session: session, last: -1, count: 0, newest: null, latest: {}, series: {}};
    }

    function add(record) {
        var worker = record.worker;
        run.latest[worker] = record;
        run.newest = record;
        run.count++;
        Object.keys(FIELDS).forEach(function (kind) {
            Object.keys(record[kind]).forEach(function (name) {
                FIELDS[kind].forEach(function (field) {
                    var key = kind + '/' + name + '/' + field;
                    var byWorker = run.series[key] || (run.series[key] = {});
                    (byWorker[worker] || (byWorker[worker] = [])).push([record.iteration, record[kind][name][field]]);
                });
            });
        });
    }

    // worker ids in thread order: "0" for one worker, "<uuid>_thread_<n>" from DL4J's ParallelWrapper
    function number(worker) {
        var m = /(\d+)$/.exec(worker);
        return m ? parseInt(m[1], 10) : 0;
    }

    function workers() {
        return Object.keys(run.latest).sort(function (a, b) {
            return number(a) - number(b) || (a < b ? -1 : a > b ? 1 : 0);
        });
    }

    function label(worker) {
        return /(\d+)$/.test(worker) ? 'worker ' + number(worker) : worker;
    }

    function section(kind, name) {
        var id = 'layer-' + kind + '-' + name.replace(/[^A-Za-z0-9_-]/g, '_');
        var s = document.getElementById(id);
        if (s === null) {
            s = $('<section class="layer"></section>').attr('id', id).attr('data-layer', name)
                .attr('data-kind', kind).appendTo('#layers')[0];
            $('<h2></h2>').text(name + (kind === 'moe' ? ' (MoE)' : ' (PEER)')).appendTo(s);
            $('<p class="summary"></p>').appendTo(s);
            $('<div class="charts"></div>').appendTo(s);
        }
        return $(s);
    }

    function chart(s, key, title, series, options) {
        var box = s.find('.chart[data-chart="' + key + '"]');
        if (box.length === 0) {
            box = $('<div class="chart"></div>').attr('data-chart', key).appendTo(s.find('.charts'));
            $('<h3></h3>').text(title).appendTo(box);
            $('<div class="plot"></div>').appendTo(box);
        }
        box.find('h3').text(title);
        $.plot(box.find('.plot'), series, options);
    }

    // one line per worker that has points of this layer's field, in each worker's color
    function lines(kind, name, field) {
        var byWorker = run.series[kind + '/' + name + '/' + field] || {};
        var all = workers();
        var several = all.length > 1;
        var out = [];
        all.forEach(function (worker, i) {
            if (byWorker[worker]) {
                out.push({data: byWorker[worker], color: COLORS[i % COLORS.length],
                    label: several ? label(worker) : null});
            }
        });
        return out;
    }

    // each worker's latest load of a layer, the workers' bars side by side around each expert
    function loadBars(name) {
        var all = workers();
        var width = BAR_SPAN / all.length;
        var out = [];
        all.forEach(function (worker, i) {
            var m = run.latest[worker].moe[name];
            if (m) {
                var offset = -BAR_SPAN / 2 + (i + 0.5) * width;
                out.push({data: m.load.map(function (l, e) { return [e + offset, l]; }),
                    color: COLORS[i % COLORS.length], label: all.length > 1 ? label(worker) : null,
                    bars: {show: true, barWidth: width, align: 'center'}});
            }
        });
        return out;
    }

    function layerNames(kind) {
        var names = [];
        workers().forEach(function (worker) {
            Object.keys(run.latest[worker][kind]).forEach(function (name) {
                if (names.indexOf(name) < 0) {
                    names.push(name);
                }
            });
        });
        return names;
    }

    function render() {
        var newest = run.newest;
        var several = workers().length > 1;
        var who = several ? ' (' + label(newest.worker) + ')' : '';
        layerNames('moe').forEach(function (name) {
            var s = section('moe', name);
            var m = newest.moe[name];
            if (m) {
                s.find('.summary').text('iteration ' + newest.iteration + who + ': ' + m.tokens + ' tokens, '
                    + m.expertsPerToken.toFixed(3) + ' experts/token, ' + m.droppedPairs + ' dropped pairs (capacity '
                    + m.capacity + '), KL to uniform ' + m.klToUniform.toFixed(4))
                    .attr('data-load', m.load.join(','));
            }
            chart(s, 'load', 'Expert load, iteration ' + newest.iteration + ' (tokens per expert)', loadBars(name),
                {xaxis: {tickDecimals: 0}, yaxis: {min: 0}, legend: {position: 'nw'}});
            chart(s, 'experts-per-token', 'Experts per token', lines('moe', name, 'expertsPerToken'), LINE);
            chart(s, 'dropped', 'Dropped (token, expert) pairs', lines('moe', name, 'droppedPairs'),
                $.extend(true, {yaxis: {min: 0, minTickSize: 1, tickDecimals: 0}}, LINE));
        });
        layerNames('peer').forEach(function (name) {
            var s = section('peer', name);
            var p = newest.peer[name];
            if (p) {
                s.find('.summary').text('iteration ' + newest.iteration + who + ': ' + p.experts
                    + ' experts, used fraction ' + p.usedFraction.toFixed(4) + ', KL to uniform '
                    + p.klToUniform.toFixed(4));
            }
            chart(s, 'used-fraction', 'Used fraction of the experts', lines('peer', name, 'usedFraction'),
                $.extend(true, {yaxis: {min: 0, max: 1}}, LINE));
            chart(s, 'kl', 'KL to uniform (nats)', lines('peer', name, 'klToUniform'), LINE);
        });
        $('#status').text('session ' + run.session + ', ' + run.count + ' records'
            + (several ? ' from ' + workers().length + ' workers' : '') + ', latest iteration ' + newest.iteration);
        document.body.setAttribute('data-rendered-records', String(run.count));
        document.body.setAttribute('data-latest-iteration', String(newest.iteration));
        document.body.setAttribute('data-workers', String(workers().length));
    }

    function receive(data) {
        if (data.session !== run.session || data.after < 0) {
            run = newRun(data.session);
            $('#layers').empty();
        }
        run.last = data.last;
        data.records.forEach(add);
        if (data.records.length > 0) {
            render();
        }
    }

    function poll() {
        var query = run.session === null ? ''
            : '?session=' + encodeURIComponent(run.session) + '&after=' + run.last;
        $.getJSON(DATA + query).done(receive).always(function () {
            setTimeout(poll, POLL_MS);
        });
    }

    $(poll);
}());
