package support_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// The service messages the desk's topic changes post (icon edits, close)
// are deleted once their ids are known by elimination (docs/outbox.md,
// "Service messages"); nobody's real message is deleted.
func TestServiceMessagesOfTopicChangesAreDeleted(t *testing.T) {
	d := newDesk(t, deskOpts{iconDebounce: 200 * time.Millisecond})
	d.bindGroup()
	olga := d.agent("Olga", "olga")
	_, thread := d.openTopic("Nina", "the app crashes")
	d.say(olga.ID, thread, "Please update to 2.1") // 📝: an icon edit
	d.say(olga.ID, thread, "/close")               // 🏁 and closeForumTopic
	service := func() (all, deleted int, wrong []tgsandbox.Entry) {
		for _, e := range d.sb.Transcript(d.group.ID) {
			switch {
			case e.Service == "forum_topic_edited" || e.Service == "forum_topic_closed":
				all++
				if e.Deleted {
					deleted++
				}
			case e.Deleted:
				wrong = append(wrong, e)
			}
		}
		return all, deleted, wrong
	}
	eventually(t, 30*time.Second, "the topic closed", func() bool {
		all, _, _ := service()
		return all >= 2
	})
	// Ids are found once a later message is known and the group settled:
	// agents keep writing notes.
	i := 0
	eventually(t, 30*time.Second, "the service messages deleted", func() bool {
		all, deleted, _ := service()
		if deleted < all {
			i++
			d.say(olga.ID, thread, fmt.Sprintf("// note %d", i))
			time.Sleep(300 * time.Millisecond)
			return false
		}
		return true
	})
	if _, _, wrong := service(); len(wrong) > 0 {
		t.Fatalf("messages that are no service messages of the bot were deleted: %+v", wrong)
	}
}
