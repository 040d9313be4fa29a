// The routing page: polls /routing/data ({"session", "records": [{iteration, epoch, moe: {layer: {...}},
// peer: {layer: {...}}}]}) and draws, per MoE layer, the latest expert load (bars), mean experts per token and dropped
// pairs over iterations; per PEER layer, the used fraction and KL to uniform over iterations. Flot 0.8.3.
(function () {
    'use strict';
    var POLL_MS = 2000;
    var LINE = {series: {lines: {show: true}, points: {show: false}}, grid: {hoverable: false}};
    var BARS = {series: {bars: {show: true, barWidth: 0.8, align: 'center'}}, xaxis: {tickDecimals: 0},
        yaxis: {min: 0}};

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
        $.plot(box.find('.plot'), series, options);
    }

    function over(records, kind, name, field) {
        var points = [];
        records.forEach(function (r) {
            if (r[kind] && r[kind][name]) {
                points.push([r.iteration, r[kind][name][field]]);
            }
        });
        return points;
    }

    function render(data) {
        var records = data.records;
        if (records.length === 0) {
            return;
        }
        var latest = records[records.length - 1];
        Object.keys(latest.moe).forEach(function (name) {
            var m = latest.moe[name];
            var s = section('moe', name);
            s.find('.summary').text('iteration ' + latest.iteration + ': ' + m.tokens + ' tokens, '
                + m.expertsPerToken.toFixed(3) + ' experts/token, ' + m.droppedPairs + ' dropped pairs (capacity '
                + m.capacity + '), KL to uniform ' + m.klToUniform.toFixed(4))
                .attr('data-load', m.load.join(','));
            chart(s, 'load', 'Expert load, iteration ' + latest.iteration + ' (tokens per expert)',
                [{data: m.load.map(function (l, e) { return [e, l]; }), color: '#3b7dd8'}], BARS);
            chart(s, 'experts-per-token', 'Experts per token',
                [{data: over(records, 'moe', name, 'expertsPerToken'), color: '#d8553b'}], LINE);
            chart(s, 'dropped', 'Dropped (token, expert) pairs',
                [{data: over(records, 'moe', name, 'droppedPairs'), color: '#777'}],
                $.extend(true, {yaxis: {min: 0, minTickSize: 1, tickDecimals: 0}}, LINE));
        });
        Object.keys(latest.peer).forEach(function (name) {
            var p = latest.peer[name];
            var s = section('peer', name);
            s.find('.summary').text('iteration ' + latest.iteration + ': ' + p.experts + ' experts, used fraction '
                + p.usedFraction.toFixed(4) + ', KL to uniform ' + p.klToUniform.toFixed(4));
            chart(s, 'used-fraction', 'Used fraction of the experts',
                [{data: over(records, 'peer', name, 'usedFraction'), color: '#3b7dd8'}],
                $.extend(true, {yaxis: {min: 0, max: 1}}, LINE));
            chart(s, 'kl', 'KL to uniform (nats)',
                [{data: over(records, 'peer', name, 'klToUniform'), color: '#d8553b'}], LINE);
        });
        $('#status').text('session ' + data.session + ', ' + records.length + ' records, latest iteration '
            + latest.iteration);
        document.body.setAttribute('data-rendered-records', String(records.length));
    }

    function poll() {
        $.getJSON('/routing/data').done(render).always(function () {
            setTimeout(poll, POLL_MS);
        });
    }

    $(poll);
}());
