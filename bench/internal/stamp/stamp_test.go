package stamp

import (
	"encoding/json"
	"testing"
)

func TestObject(t *testing.T) {
	for _, us := range []int64{1_732_361_234_567_123, 1_732_361_234_567_000, 1_732_361_234_567_009} {
		obj := AppendObject(nil, us)
		if len(obj) != Size {
			t.Fatalf("len = %d, want %d: %s", len(obj), Size, obj)
		}
		var v struct {
			T float64 `json:"t"`
			P string  `json:"p"`
		}
		if err := json.Unmarshal(obj, &v); err != nil {
			t.Fatalf("%s: %v", obj, err)
		}
		got, ok := Find(AppendFrame(nil, us))
		if !ok || got != us {
			t.Errorf("Find = %d, %v; want %d", got, ok, us)
		}
	}
}

func TestFindNodeNumbers(t *testing.T) {
	for in, want := range map[string]int64{
		`42["m",{"t":1732361234567.1235,"p":"x"}]`: 1_732_361_234_567_123,
		`42["m",{"t":1732361234567.1,"p":"x"}]`:    1_732_361_234_567_100,
		`42["m",{"t":1732361234567,"p":"x"}]`:      1_732_361_234_567_000,
	} {
		if got, ok := Find([]byte(in)); !ok || got != want {
			t.Errorf("Find(%s) = %d, %v; want %d", in, got, ok, want)
		}
	}
	if _, ok := Find([]byte(`42["m","x"]`)); ok {
		t.Error("found a stamp in a frame without one")
	}
}

func TestFindDoesNotAllocate(t *testing.T) {
	f := AppendFrame(nil, Now())
	if n := testing.AllocsPerRun(100, func() { Find(f) }); n != 0 {
		t.Errorf("Find allocates %v times", n)
	}
}
