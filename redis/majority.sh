# shellcheck shell=sh
# The one rule, for this image's scripts, for which instance the sentinels name primary: the one
# that a strict majority of all the sentinels name (make's own rule: control/sentinels.py). A
# sentinel back from a lost node can name the old primary for a minute, so the first answer is not
# enough; where no majority names one (a failover under way, sentinels unreachable), there is no
# answer yet, and a caller waits.
#   majority TOTAL: of the names on standard input, one a line (what each sentinel that answered
#   named), the one that more than half of the TOTAL sentinels name; else nothing.
majority() { sort | uniq -c | awk -v total="$1" 'NF == 2 && $1 * 2 > total { print $2 }'; }
