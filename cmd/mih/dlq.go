package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/ops"
)

// runDLQ runs `mih dlq list|replay|delete`. Only list takes --limit, and only replay and delete
// take --all: each verb's --help lists what applies to it.
func runDLQ(ctx context.Context, verb string, args, environ []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("dlq "+verb, pflag.ContinueOnError)
	storeFlags(fs)
	service := fs.String("service", "", "only deliveries to this service")
	ruleID := fs.Int64("rule", 0, "only deliveries of this rule")
	var all bool
	limit := 0
	if verb == "list" {
		fs.IntVar(&limit, "limit", 100, "list at most this many")
	} else {
		fs.BoolVar(&all, "all", false, "every dead delivery the filters select")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	f := mih.DeliveryFilter{State: mih.DeliveryDead, Service: *service, RuleID: *ruleID, Limit: limit}
	for _, a := range fs.Args() {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil || id <= 0 {
			return usageError{fmt.Sprintf("%q is not a delivery id", a)}
		}
		f.IDs = append(f.IDs, id)
	}
	if verb != "list" && len(f.IDs) == 0 && !all {
		return usageError{fmt.Sprintf("mih dlq %s: give delivery ids, or --all (with --service/--rule to narrow it)", verb)}
	}
	cfg, err := loadConfig(fs, environ)
	if err != nil {
		return usageError{err.Error()}
	}
	st, err := openStore(ctx, cfg, discardLogger())
	if err != nil {
		return err
	}
	defer st.Close()

	switch verb {
	case "list":
		ds, _, err := st.FindDeliveries(ctx, f)
		if err != nil {
			return fmt.Errorf("list dead deliveries: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSERVICE\tRULE\tEVENT\tATTEMPTS\tREASON\tLAST ERROR\tUPDATED")
		for _, d := range ds {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%d\t%s\t%s\t%s\n", d.ID, d.Service, d.RuleID, d.EventID,
				d.Attempts, d.DeadReason, truncate(d.LastError, 60), d.UpdatedAt.Local().Format(time.DateTime))
		}
		return tw.Flush()
	case "replay":
		n, err := ops.NewLedger(st, nil, nil).Replay(ctx, f)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		fmt.Fprintf(stdout, "%d deliveries queued again\n", n)
		if n == 0 && len(f.IDs) > 0 {
			return mih.Errorf(mih.CodeNotFound, "no dead delivery with the given ids")
		}
	case "delete":
		n, err := ops.NewLedger(st, nil, nil).Delete(ctx, f)
		if err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		fmt.Fprintf(stdout, "%d deliveries deleted\n", n)
		if n == 0 && len(f.IDs) > 0 {
			return mih.Errorf(mih.CodeNotFound, "no dead delivery with the given ids")
		}
	default:
		return usageError{fmt.Sprintf("unknown dlq command %q: want list, replay or delete", verb)}
	}
	return nil
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
