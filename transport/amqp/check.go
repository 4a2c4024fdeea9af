package amqp

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/mihhub/mih"
)

var _ mih.Checker = (*Transport)(nil)

// Check tests a service's connection without publishing, which would put a test message in front
// of real consumers: it connects and logs in as Send would, opens a channel and checks passively
// that the exchange and the queue to declare exist. It does not go through the gateway, so it
// neither counts towards nor waits for the circuit.
func (t *Transport) Check(ctx context.Context, s *mih.Service) mih.CheckResult {
	tg, err := parseTarget(s.BaseURL, s.Auth)
	if err != nil {
		return mih.CheckResult{Level: mih.CheckBad, Summary: "The service's URL cannot be read.", Detail: mih.ErrorMessage(err)}
	}
	where := tg.scheme + "://" + tg.addr() + " (vhost " + strconv.Quote(tg.vhost) + ")"
	start := time.Now()
	conn, err := t.dialOnce(ctx, tg)
	if err != nil {
		return mih.CheckResult{Level: mih.CheckBad, Summary: "Could not connect to " + where + ".", Detail: checkReason(err)}
	}
	defer conn.Close()
	out := mih.CheckResult{Level: mih.CheckOK, Latency: time.Since(start)}
	ch, err := conn.Channel()
	if err != nil {
		return mih.CheckResult{Level: mih.CheckBad, Summary: "Connected to " + where + ", but could not open a channel.", Detail: checkReason(err)}
	}
	defer ch.Close()
	var notes []string
	if tg.exchange != "" {
		if err := ch.ExchangeDeclarePassive(tg.exchange, "topic", true, false, false, false, nil); err != nil {
			if ae, ok := errors.AsType[*amqp091.Error](err); ok && ae.Code == amqp091.NotFound {
				return mih.CheckResult{Level: mih.CheckBad, Summary: "Connected to " + where + ", but the exchange " + strconv.Quote(tg.exchange) + " does not exist.",
					Detail: "The hub publishes to it and does not declare exchanges; ask the broker's administrator to create it.", Latency: out.Latency}
			}
			// A passive declare of an existing exchange of another kind is refused too; that
			// still proves it exists.
			if ch, err = conn.Channel(); err != nil {
				return mih.CheckResult{Level: mih.CheckBad, Summary: "Connected to " + where + ", but could not open a channel.", Detail: checkReason(err)}
			}
			defer ch.Close()
		}
		notes = append(notes, "exchange "+strconv.Quote(tg.exchange)+" exists")
	}
	if tg.queue != "" {
		if _, err := ch.QueueDeclarePassive(tg.queue, true, false, false, false, nil); err != nil {
			notes = append(notes, "queue "+strconv.Quote(tg.queue)+" does not exist yet: the hub declares it before its first publish")
		} else {
			notes = append(notes, "queue "+strconv.Quote(tg.queue)+" exists")
		}
	}
	out.Summary = "Connected to " + where + " and logged in as " + strconv.Quote(tg.username) + "."
	if len(notes) > 0 {
		d := strings.Join(notes, "; ")
		out.Detail = strings.ToUpper(d[:1]) + d[1:] + "."
	}
	return out
}

// checkReason explains a broker refusal in words, else gives the error.
func checkReason(err error) string {
	if ae, ok := errors.AsType[*amqp091.Error](err); ok {
		switch ae.Code {
		case amqp091.AccessRefused:
			return "The broker refused the user name or password (" + ae.Reason + ")."
		case amqp091.NotAllowed:
			return "The user may not use this vhost (" + ae.Reason + ")."
		}
		return ae.Reason
	}
	if errors.Is(err, amqp091.ErrCredentials) {
		return "The broker refused the user name or password."
	}
	if errors.Is(err, amqp091.ErrVhost) {
		return "The vhost does not exist or the user may not use it."
	}
	return classify(context.Background(), err, "connect").Message
}
