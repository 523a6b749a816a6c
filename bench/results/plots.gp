set terminal pngcairo size 960,560 font 'sans,10'
set grid
set key top left
set output 'messages.png'
set key bottom right
set title '1 KiB messages: throughput against load (median, min-max)'
set logscale x
set xlabel 'pairs'
set ylabel 'messages/s'
plot 'messages-switchboard.dat' using 1:2:3:4 with yerrorlines title 'Switchboard (relayed messages/s)', 'messages-direct.dat' using 1:2:3:4 with yerrorlines title 'direct echo server (messages/s)', 'messages-switchboard.dat' using 1:5:6:7 with yerrorlines title 'Switchboard (relayed messages per server CPU-second)'
unset logscale x
set output 'latency.png'
set key top left
set title 'Echo latency against offered load (open loop, medians of runs)'
set logscale y
set xlabel 'offered messages/s'
set ylabel 'latency (us)'
plot 'latency-switchboard.dat' using 2:3 with linespoints title 'Switchboard p50', 'latency-switchboard.dat' using 2:4 with linespoints title 'Switchboard p99', 'latency-switchboard.dat' using 2:5 with linespoints title 'Switchboard p99.9', 'latency-direct.dat' using 2:3 with linespoints dt 2 title 'direct p50', 'latency-direct.dat' using 2:4 with linespoints dt 2 title 'direct p99', 'latency-direct.dat' using 2:5 with linespoints dt 2 title 'direct p99.9'
unset logscale y
